package decision

import "github.com/go-json-experiment/json/jsontext"

// The raw* types mirror the elements of the version-4 datafile's lists
// (see topLevel for the rest). Unknown fields are ignored, so newer
// datafiles with extra sections still load.

type rawAttribute struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// rawAudience.Conditions is a JSON string in audiences and usually a
// tree in typedAudiences; both forms are accepted in both lists. It is
// kept raw so that its depth is checked before it is decoded.
type rawAudience struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Conditions jsontext.Value `json:"conditions"`
}

type rawExperiment struct {
	ID                string         `json:"id"`
	Key               string         `json:"key"`
	Status            string         `json:"status"`
	Variations        []rawVariation `json:"variations"`
	TrafficAllocation []rawRange     `json:"trafficAllocation"`
	AudienceIDs       []string       `json:"audienceIds"`
	// AudienceConditions is kept raw so that an absent field (use
	// audienceIds) can be told from an explicit [] (everyone), and so that
	// its depth is checked before it is decoded.
	AudienceConditions jsontext.Value    `json:"audienceConditions"`
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

func (r *rawAttribute) reset() { *r = rawAttribute{} }

func (r *rawAudience) reset() { *r = rawAudience{Conditions: r.Conditions[:0]} }

// reset keeps the lists whose elements are copied when an experiment is
// built; variations' variables are kept by the built variations, so
// encoding/json/v2's zeroing of each reused variation leaves them alone.
func (r *rawExperiment) reset() {
	*r = rawExperiment{
		Variations:         r.Variations[:0],
		TrafficAllocation:  r.TrafficAllocation[:0],
		AudienceIDs:        r.AudienceIDs[:0],
		AudienceConditions: r.AudienceConditions[:0],
	}
}

func (r *rawGroup) reset() {
	*r = rawGroup{TrafficAllocation: r.TrafficAllocation[:0], Experiments: r.Experiments[:0]}
}

func (r *rawRollout) reset() { *r = rawRollout{Experiments: r.Experiments[:0]} }

func (r *rawFlag) reset() {
	*r = rawFlag{ExperimentIDs: r.ExperimentIDs[:0], Variables: r.Variables[:0]}
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

// ParseDatafile parses and validates a version-4 datafile within the
// default Limits (see DefaultLimits). Any error is a *DatafileError listing
// the problems found and where each is: a datafile over the size limit,
// bad JSON (invalid UTF-8 included), a field of the wrong type, an unknown
// version, an empty, oversized or duplicate ID, an empty or oversized
// experiment key, a duplicate flag, variation or variable key, a traffic
// allocation naming a variation (or, in a group, an experiment) that does
// not exist, an experiment or rule naming an unknown audience, a flag
// naming an unknown experiment or rollout, or one shared by too many
// flags, a condition that is not a condition or nests too deeply, or a
// variable value that does not parse as its type.
//
// Some inconsistencies are not errors because the SDKs resolve them per
// user: a forcedVariations entry naming an unknown variation is ignored, a
// condition with an unknown type or match evaluates to null, and a
// variable of an unknown type is a string.
func ParseDatafile(data []byte) (*Datafile, error) {
	return Limits{}.ParseDatafile(data)
}

// ParseDatafile parses and validates a version-4 datafile as the package
// function does, within l (zero fields take their defaults). Time and
// memory are proportional to len(data), which is checked first.
func (l Limits) ParseDatafile(data []byte) (*Datafile, error) {
	l = l.withDefaults()
	p := newProblems(l)
	if len(data) > l.MaxBytes {
		p.add(nil, "datafile is %d bytes, the limit is %d", len(data), l.MaxBytes)
		return nil, p.err()
	}
	top, ok := splitTopLevel(data, p)
	if !ok {
		return nil, p.err()
	}
	b := &builder{data: data, lim: l, p: p}
	d := b.build(&top)
	if err := p.err(); err != nil {
		return nil, err
	}
	return d, nil
}

// supportedVersion is the only datafile version accepted: version 4 added
// typedAudiences, audienceConditions and rollouts with flags, which the
// decision rules here assume.
const supportedVersion = "4"

// builder builds a Datafile list by list, in the order of the list
// constants: each list only refers to those before it.
type builder struct {
	data []byte
	lim  Limits
	p    *problems
	d    *Datafile
	auds map[string]*audience
	// groupIDs are the IDs of the groups built so far, to locate their
	// members; rollouts maps rollout IDs.
	groupIDs []string
	rollouts map[string]*rollout
	// scratch holds an experiment that is checked but not kept.
	scratch experiment
}

func (b *builder) build(top *topLevel) *Datafile {
	p, lim := b.p, b.lim
	if top.version != supportedVersion {
		p.add(nil, "version %s: only version %s is supported", quoted(top.version), supportedVersion)
	}
	checkLength("revision", top.revision, lim.MaxKeyBytes, &path{list: "revision", index: -1}, p)
	b.d = &Datafile{
		revision:        top.revision,
		experimentByKey: map[string]*experiment{},
		experimentByID:  map[string]*experiment{},
		ambiguousKeys:   map[string]bool{},
		flagByKey:       map[string]*flag{},
	}
	b.auds = map[string]*audience{}
	b.rollouts = map[string]*rollout{}
	steps := [numLists]func(span) bool{
		b.attributes, b.typedAudiences, b.audiences, b.experiments, b.groups, b.buildRollouts, b.flags,
	}
	for i, step := range steps {
		if !step(top.lists[i]) {
			return nil // JSON of the wrong shape, reported
		}
	}
	return b.d
}

func (b *builder) attributes(s span) bool {
	keys := newUnique("attribute key", b.lim.MaxKeyBytes)
	var a rawAttribute
	return eachElement(b.data, "attributes", s, &a, b.p, func(i int) {
		at := namedElem(nil, "attributes", i, a.ID)
		keys.check(a.Key, a.ID, &at, b.p)
		checkLength("attribute ID", a.ID, b.lim.MaxIDBytes, &at, b.p)
	})
}

// typedAudiences and audiences parse both audience lists. A typed audience
// takes the place of a legacy one with the same ID: the web app writes
// every typed audience a second time in the legacy list with conditions
// that match nobody. The shadowed legacy copies are still checked.
func (b *builder) typedAudiences(s span) bool { return b.audienceList("typedAudiences", s) }
func (b *builder) audiences(s span) bool      { return b.audienceList("audiences", s) }

func (b *builder) audienceList(list string, s span) bool {
	ids := newUnique("audience ID", b.lim.MaxIDBytes)
	var a rawAudience
	return eachElement(b.data, list, s, &a, b.p, func(i int) {
		at := namedElem(nil, list, i, a.ID)
		if !ids.check(a.ID, a.ID, &at, b.p) {
			return
		}
		checkLength("audience name", a.Name, b.lim.MaxKeyBytes, &at, b.p)
		tree := parseConditionsJSON(a.Conditions, &at, "conditions", b.lim.MaxConditionDepth, b.p)
		if _, shadowed := b.auds[a.ID]; !shadowed && tree != nil {
			b.auds[a.ID] = &audience{id: a.ID, name: a.Name, tree: tree}
		}
	})
}

// addExperiment builds a top-level experiment (group -1) or a member of
// group group and indexes it. One whose ID is unusable is still checked,
// built into a scratch value that is not kept.
func (b *builder) addExperiment(r *rawExperiment, at *path, group int) *experiment {
	if r.Key == "" && !b.p.full() {
		b.p.add(at, "empty experiment key")
	}
	if !b.checkExperimentID(r.ID, at) {
		b.scratch = experiment{}
		buildExperimentInto(&b.scratch, r, at, b.auds, b.lim, b.p)
		return &b.scratch
	}
	e := new(experiment)
	buildExperimentInto(e, r, at, b.auds, b.lim, b.p)
	e.scope = []string{e.id}
	e.loc = location{group: int32(group), index: int32(at.index)}
	d := b.d
	d.experiments = append(d.experiments, e)
	d.experimentByID[e.id] = e
	// Flags-first projects reuse rule keys across flags (two flags may
	// each run a "targeted_delivery"), so a key is not an identity. A key
	// held by several experiments cannot be decided by key.
	if _, dup := d.experimentByKey[e.key]; dup || d.ambiguousKeys[e.key] {
		delete(d.experimentByKey, e.key)
		d.ambiguousKeys[e.key] = true
	} else {
		d.experimentByKey[e.key] = e
	}
	return e
}

// checkExperimentID reports whether id can identify an experiment: IDs are
// unique across top-level experiments and groups.
func (b *builder) checkExperimentID(id string, at *path) bool {
	if !checkString("experiment ID", id, b.lim.experimentIDBytes(), at, b.p) {
		return false
	}
	first := b.d.experimentByID[id]
	if first == nil {
		return true
	}
	fp := namedElem(nil, "experiments", int(first.loc.index), first.key)
	if g := first.loc.group; g >= 0 {
		gp := namedElem(nil, "groups", int(g), b.groupIDs[g])
		fp.up = &gp
	}
	duplicate("experiment ID", id, at, &fp, b.p)
	return false
}

func (b *builder) experiments(s span) bool {
	var r rawExperiment
	return eachElement(b.data, "experiments", s, &r, b.p, func(i int) {
		at := namedElem(nil, "experiments", i, r.Key)
		b.addExperiment(&r, &at, -1)
	})
}

func (b *builder) groups(s span) bool {
	ids := newUnique("group ID", b.lim.MaxIDBytes)
	var r rawGroup
	return eachElement(b.data, "groups", s, &r, b.p, func(i int) {
		at := namedElem(nil, "groups", i, r.ID)
		ids.check(r.ID, r.ID, &at, b.p)
		b.groupIDs = append(b.groupIDs, r.ID)
		members := make(map[string]*experiment, len(r.Experiments))
		for j := range r.Experiments {
			re := &r.Experiments[j]
			mat := namedElem(&at, "experiments", j, re.Key)
			members[re.ID] = b.addExperiment(re, &mat, i)
		}
		// Only the random policy excludes: overlapping groups (and unknown
		// policies, as in the SDKs) let members run side by side.
		g := &group{id: r.ID, random: r.Policy == "random"}
		g.traffic = checkRanges(r.TrafficAllocation, &at, "experiment of this group", func(id string) (*experiment, bool) {
			e, ok := members[id]
			return e, ok
		}, b.p)
		if g.random {
			for _, e := range members {
				e.group = g
			}
		}
	})
}

func (b *builder) buildRollouts(s span) bool {
	ids := newUnique("rollout ID", b.lim.MaxIDBytes)
	var r rawRollout
	return eachElement(b.data, "rollouts", s, &r, b.p, func(i int) {
		at := namedElem(nil, "rollouts", i, r.ID)
		ro := &rollout{id: r.ID, rules: make([]*experiment, 0, len(r.Experiments))}
		ruleIDs := newUnique("rule ID", b.lim.experimentIDBytes())
		for j := range r.Experiments {
			re := &r.Experiments[j]
			rat := namedElem(&at, "experiments", j, re.Key)
			ruleIDs.check(re.ID, re.Key, &rat, b.p)
			e := new(experiment)
			buildExperimentInto(e, re, &rat, b.auds, b.lim, b.p)
			ro.rules = append(ro.rules, e)
		}
		if ids.check(r.ID, r.ID, &at, b.p) {
			b.rollouts[r.ID] = ro
		}
	})
}

func (b *builder) flags(s span) bool {
	keys := newUnique("flag key", b.lim.MaxKeyBytes)
	var r rawFlag
	return eachElement(b.data, "featureFlags", s, &r, b.p, func(i int) {
		at := namedElem(nil, "featureFlags", i, r.Key)
		f := buildFlag(&r, &at, b.d.experimentByID, b.rollouts, b.lim, b.p)
		if keys.check(r.Key, r.Key, &at, b.p) {
			b.d.flags = append(b.d.flags, f)
			b.d.flagByKey[f.key] = f
		}
	})
}
