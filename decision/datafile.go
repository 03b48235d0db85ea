package decision

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
)

// The raw* types mirror the version-4 datafile JSON. Unknown fields are
// ignored, so newer datafiles with extra sections still load.
type rawDatafile struct {
	Version        string          `json:"version"`
	Revision       string          `json:"revision"`
	Attributes     []rawAttribute  `json:"attributes"`
	Audiences      []rawAudience   `json:"audiences"`
	TypedAudiences []rawAudience   `json:"typedAudiences"`
	Experiments    []rawExperiment `json:"experiments"`
	Groups         []rawGroup      `json:"groups"`
	FeatureFlags   []rawFlag       `json:"featureFlags"`
	Rollouts       []rawRollout    `json:"rollouts"`
}

type rawAttribute struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// rawAudience.Conditions is a JSON string in audiences and usually a
// decoded tree in typedAudiences; both forms are accepted in both lists.
type rawAudience struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Conditions any    `json:"conditions"`
}

type rawExperiment struct {
	ID                string         `json:"id"`
	Key               string         `json:"key"`
	Status            string         `json:"status"`
	Variations        []rawVariation `json:"variations"`
	TrafficAllocation []rawRange     `json:"trafficAllocation"`
	AudienceIDs       []string       `json:"audienceIds"`
	// AudienceConditions is json.RawMessage so that an absent field (use
	// audienceIds) can be told from an explicit [] (everyone).
	AudienceConditions json.RawMessage   `json:"audienceConditions"`
	ForcedVariations   map[string]string `json:"forcedVariations"`
}

type rawVariation struct {
	ID             string        `json:"id"`
	Key            string        `json:"key"`
	FeatureEnabled bool          `json:"featureEnabled"`
	Variables      []rawVarUsage `json:"variables"`
}

type rawVarUsage struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

type rawRange struct {
	EntityID   string `json:"entityId"`
	EndOfRange int    `json:"endOfRange"`
}

type rawGroup struct {
	ID                string          `json:"id"`
	Policy            string          `json:"policy"`
	TrafficAllocation []rawRange      `json:"trafficAllocation"`
	Experiments       []rawExperiment `json:"experiments"`
}

type rawFlag struct {
	ID            string        `json:"id"`
	Key           string        `json:"key"`
	RolloutID     string        `json:"rolloutId"`
	ExperimentIDs []string      `json:"experimentIds"`
	Variables     []rawVariable `json:"variables"`
}

type rawVariable struct {
	ID           string `json:"id"`
	Key          string `json:"key"`
	Type         string `json:"type"`
	SubType      string `json:"subType"`
	DefaultValue string `json:"defaultValue"`
}

type rawRollout struct {
	ID          string          `json:"id"`
	Experiments []rawExperiment `json:"experiments"`
}

// Datafile is a parsed, validated and indexed Optimizely datafile. It is
// immutable and safe for concurrent use; a new revision is a new Datafile.
type Datafile struct {
	revision        string
	experiments     []*experiment // top-level, then group members
	experimentByKey map[string]*experiment
	experimentByID  map[string]*experiment
	// ambiguousKeys are experiment keys used by more than one experiment.
	ambiguousKeys map[string]bool
	flags         []*flag
	flagByKey     map[string]*flag
}

// Revision returns the datafile's revision.
func (d *Datafile) Revision() string { return d.revision }

// FlagKeys returns the keys of every feature flag, in datafile order (the
// order DecideAll decides them in).
func (d *Datafile) FlagKeys() []string {
	keys := make([]string, len(d.flags))
	for i, f := range d.flags {
		keys[i] = f.key
	}
	return keys
}

// ExperimentKeys returns the keys of every experiment, top-level ones first
// and then those in mutual-exclusion groups, in datafile order. Rollout
// rules are not experiments and are not listed. A key used by several
// experiments (flags-first projects allow that across flags) is listed
// once per experiment, but DecideExperiment cannot decide it.
func (d *Datafile) ExperimentKeys() []string {
	keys := make([]string, len(d.experiments))
	for i, e := range d.experiments {
		keys[i] = e.key
	}
	return keys
}

// ParseDatafile parses and validates a version-4 datafile. Any error is a
// *DatafileError listing every problem found and where it is: bad JSON, a
// field of the wrong type, an unknown version, an empty or duplicate ID, an
// empty experiment key, a duplicate flag, variation or variable key, a
// traffic allocation naming a variation (or, in a group, an
// experiment) that does not exist, an experiment or rule naming an unknown
// audience, a flag naming an unknown experiment or rollout, a condition
// that is not a condition, or a variable value that does not parse as its
// type.
//
// Some inconsistencies are not errors because the SDKs resolve them per
// user: a forcedVariations entry naming an unknown variation is ignored, a
// condition with an unknown type or match evaluates to null, and a
// variable of an unknown type is a string.
func ParseDatafile(data []byte) (*Datafile, error) {
	var raw rawDatafile
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, &DatafileError{Problems: []string{describeJSONError(err)}}
	}
	p := &problems{}
	d := build(&raw, p)
	if err := p.err(); err != nil {
		return nil, err
	}
	return d, nil
}

func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON at byte %d: %v", syntax.Offset, err)
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "top level"
		}
		return fmt.Sprintf("%s: got a JSON %s, want %s", where, typ.Value, wantedJSON(typ.Type))
	}
	return fmt.Sprintf("not valid JSON: %v", err)
}

// wantedJSON names the JSON a Go field takes, without our type names.
func wantedJSON(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	}
	return t.String()
}

// supportedVersion is the only datafile version accepted: version 4 added
// typedAudiences, audienceConditions and rollouts with flags, which the
// decision rules here assume.
const supportedVersion = "4"

func build(raw *rawDatafile, p *problems) *Datafile {
	if raw.Version != supportedVersion {
		p.addf("version %q: only version %s is supported", raw.Version, supportedVersion)
	}
	attrs := newUnique("attribute key")
	for i, a := range raw.Attributes {
		attrs.check(a.Key, named("attributes", i, a.ID), p)
	}
	auds := buildAudiences(raw, p)

	d := &Datafile{
		revision:        raw.Revision,
		experimentByKey: map[string]*experiment{},
		experimentByID:  map[string]*experiment{},
		ambiguousKeys:   map[string]bool{},
		flagByKey:       map[string]*flag{},
	}
	ids := newUnique("experiment ID")
	add := func(r *rawExperiment, path string) *experiment {
		e := buildExperiment(r, path, auds, p)
		if r.Key == "" {
			p.addf("%s: empty experiment key", path)
		}
		if !ids.check(r.ID, path, p) {
			return e
		}
		d.experiments = append(d.experiments, e)
		d.experimentByID[e.id] = e
		// Flags-first projects reuse rule keys across flags (two flags may
		// each run a "targeted_delivery"), so a key is not an identity. A
		// key held by several experiments cannot be decided by key.
		if _, dup := d.experimentByKey[e.key]; dup || d.ambiguousKeys[e.key] {
			delete(d.experimentByKey, e.key)
			d.ambiguousKeys[e.key] = true
		} else {
			d.experimentByKey[e.key] = e
		}
		return e
	}
	for i := range raw.Experiments {
		r := &raw.Experiments[i]
		add(r, named("experiments", i, r.Key))
	}
	groupIDs := newUnique("group ID")
	for i := range raw.Groups {
		buildGroup(&raw.Groups[i], named("groups", i, raw.Groups[i].ID), groupIDs, add, p)
	}
	rollouts := buildRollouts(raw.Rollouts, auds, p)
	flagKeys := newUnique("flag key")
	for i := range raw.FeatureFlags {
		r := &raw.FeatureFlags[i]
		path := named("featureFlags", i, r.Key)
		f := buildFlag(r, path, d.experimentByID, rollouts, p)
		if flagKeys.check(r.Key, path, p) {
			d.flags = append(d.flags, f)
			d.flagByKey[f.key] = f
		}
	}
	return d
}

// buildAudiences parses both audience lists. A typed audience takes the
// place of a legacy one with the same ID: the web app writes every typed
// audience a second time in the legacy list with conditions that match
// nobody. The shadowed legacy copies are still checked.
func buildAudiences(raw *rawDatafile, p *problems) map[string]*audience {
	auds := map[string]*audience{}
	parse := func(list string, as []rawAudience) {
		ids := newUnique("audience ID")
		for i, a := range as {
			path := named(list, i, a.ID)
			if !ids.check(a.ID, path, p) {
				continue
			}
			tree := parseConditions(a.Conditions, path+": conditions", p)
			if _, shadowed := auds[a.ID]; !shadowed && tree != nil {
				auds[a.ID] = &audience{id: a.ID, name: a.Name, tree: tree}
			}
		}
	}
	parse("typedAudiences", raw.TypedAudiences)
	parse("audiences", raw.Audiences)
	return auds
}

func buildGroup(r *rawGroup, path string, ids *uniqueIn, add func(*rawExperiment, string) *experiment, p *problems) {
	ids.check(r.ID, path, p)
	members := map[string]*experiment{}
	for j := range r.Experiments {
		re := &r.Experiments[j]
		e := add(re, path+": "+named("experiments", j, re.Key))
		members[re.ID] = e
	}
	// Only the random policy excludes: overlapping groups (and unknown
	// policies, as in the SDKs) let members run side by side.
	g := &group{id: r.ID, random: r.Policy == "random"}
	g.traffic = checkRanges(r.TrafficAllocation, path, "experiment of this group", func(id string) (*experiment, bool) {
		e, ok := members[id]
		return e, ok
	}, p)
	for _, e := range members {
		if g.random {
			e.group = g
		}
	}
}

func buildRollouts(raws []rawRollout, auds map[string]*audience, p *problems) map[string]*rollout {
	rollouts := map[string]*rollout{}
	ids := newUnique("rollout ID")
	for i := range raws {
		r := &raws[i]
		path := named("rollouts", i, r.ID)
		ro := &rollout{id: r.ID}
		ruleIDs := newUnique("rule ID")
		for j := range r.Experiments {
			re := &r.Experiments[j]
			rulePath := path + ": " + named("experiments", j, re.Key)
			ruleIDs.check(re.ID, rulePath, p)
			ro.rules = append(ro.rules, buildExperiment(re, rulePath, auds, p))
		}
		if ids.check(r.ID, path, p) {
			rollouts[r.ID] = ro
		}
	}
	return rollouts
}
