package decision

import (
	"sync"

	"github.com/go-json-experiment/json/jsontext"
)

// The raw* types mirror the elements of the version-4 datafile's lists
// (see topLevel for the rest). Unknown fields are ignored, so newer
// datafiles with extra sections still load. Lists within elements are kept
// raw (jsontext.Value) and decoded one element at a time too (see each),
// so that no list, however long, is ever decoded whole.

type rawAttribute struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// rawAudience.Conditions is a JSON string in audiences and usually a
// tree in typedAudiences; both forms are accepted in both lists. It is
// kept raw so that its depth is checked before it is parsed.
type rawAudience struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Conditions jsontext.Value `json:"conditions"`
}

type rawExperiment struct {
	ID                string         `json:"id"`
	Key               string         `json:"key"`
	LayerID           string         `json:"layerId"`
	Status            string         `json:"status"`
	Variations        jsontext.Value `json:"variations"`        // []rawVariation
	TrafficAllocation jsontext.Value `json:"trafficAllocation"` // []rawRange
	AudienceIDs       jsontext.Value `json:"audienceIds"`       // []string
	// AudienceConditions is kept raw so that an absent field (use
	// audienceIds) can be told from an explicit [] (everyone), and so that
	// its depth is checked before it is parsed.
	AudienceConditions jsontext.Value    `json:"audienceConditions"`
	ForcedVariations   map[string]string `json:"forcedVariations"`
}

type rawVariation struct {
	ID             string         `json:"id"`
	Key            string         `json:"key"`
	FeatureEnabled bool           `json:"featureEnabled"`
	Variables      jsontext.Value `json:"variables"` // []rawVarUsage
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
	ID                string         `json:"id"`
	Policy            string         `json:"policy"`
	TrafficAllocation jsontext.Value `json:"trafficAllocation"` // []rawRange
	Experiments       jsontext.Value `json:"experiments"`       // []rawExperiment
}

type rawFlag struct {
	ID            string         `json:"id"`
	Key           string         `json:"key"`
	RolloutID     string         `json:"rolloutId"`
	ExperimentIDs jsontext.Value `json:"experimentIds"` // []string
	Variables     jsontext.Value `json:"variables"`     // []rawVariable
}

type rawVariable struct {
	ID           string `json:"id"`
	Key          string `json:"key"`
	Type         string `json:"type"`
	SubType      string `json:"subType"`
	DefaultValue string `json:"defaultValue"`
}

type rawRollout struct {
	ID          string         `json:"id"`
	Experiments jsontext.Value `json:"experiments"` // []rawExperiment
}

// The reset methods zero a raw element for the next one, keeping the
// capacity of its raw lists (a jsontext.Value is decoded by appending to
// it). Each nesting level decodes into its own raw values, as the lists
// of one level are read while the next is decoded.

func (r *rawAttribute) reset() { *r = rawAttribute{} }
func (r *rawAudience) reset()  { *r = rawAudience{Conditions: r.Conditions[:0]} }
func (r *rawVarUsage) reset()  { *r = rawVarUsage{} }
func (r *rawRange) reset()     { *r = rawRange{} }
func (r *rawVariable) reset()  { *r = rawVariable{} }

func (r *rawExperiment) reset() {
	*r = rawExperiment{
		Variations:         r.Variations[:0],
		TrafficAllocation:  r.TrafficAllocation[:0],
		AudienceIDs:        r.AudienceIDs[:0],
		AudienceConditions: r.AudienceConditions[:0],
	}
}

func (r *rawVariation) reset() { *r = rawVariation{Variables: r.Variables[:0]} }

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
	revision string
	// overrideScope is "projectId/environmentKey": the scope of the
	// overrides decisions on the datafile read (ups.OverrideKey).
	overrideScope   string
	experiments     []*experiment // top-level, then group members
	experimentByKey map[string]*experiment
	experimentByID  map[string]*experiment
	// ambiguousKeys are experiment keys used by more than one experiment.
	ambiguousKeys map[string]bool
	flags         []*flag
	flagByKey     map[string]*flag
	// audiences counts the audiences, numbered 0… as they were built (the
	// index of each result in a call's audienceMemo); memos holds the
	// result slices of calls on a datafile with more than inlineAudiences.
	audiences int32
	memos     sync.Pool
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

// HasFlag reports whether the datafile has a feature flag keyed key.
func (d *Datafile) HasFlag(key string) bool {
	_, ok := d.flagByKey[key]
	return ok
}

// HasExperiment reports whether the datafile has an experiment (top-level
// or in a group; not a rollout rule) keyed key, even one whose key other
// experiments share.
func (d *Datafile) HasExperiment(key string) bool {
	_, ok := d.experimentByKey[key]
	return ok || d.ambiguousKeys[key]
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
	// decs are the list decoders of each nesting depth in use (see each).
	decs  []*listDecoder
	depth int
	// walker parses condition trees.
	walker conditionWalker
	// Raw values of the nested levels (each level needs its own).
	member, rule rawExperiment
	variation    rawVariation
	usage        rawVarUsage
	usages       []rawVarUsage
	rng          rawRange
	variable     rawVariable
	// scratch holds an experiment that is checked but not kept.
	scratch experiment
}

func (b *builder) build(top *topLevel) *Datafile {
	p, lim := b.p, b.lim
	if top.version != supportedVersion {
		p.add(nil, "version %s: only version %s is supported", quoted(top.version), supportedVersion)
	}
	checkLength("revision", top.revision, lim.MaxKeyBytes, &path{list: "revision", index: -1}, p)
	checkLength("projectId", top.projectID, lim.MaxIDBytes, &path{list: "projectId", index: -1}, p)
	checkLength("environmentKey", top.environmentKey, lim.MaxKeyBytes, &path{list: "environmentKey", index: -1}, p)
	b.d = &Datafile{
		revision:        top.revision,
		overrideScope:   top.projectID + "/" + top.environmentKey,
		experimentByKey: map[string]*experiment{},
		experimentByID:  map[string]*experiment{},
		ambiguousKeys:   map[string]bool{},
		flagByKey:       map[string]*flag{},
	}
	b.auds = map[string]*audience{}
	b.rollouts = map[string]*rollout{}
	steps := [numLists]func(jsontext.Value) bool{
		b.attributes, b.typedAudiences, b.audiences, b.experiments, b.groups, b.buildRollouts, b.flags,
	}
	for i, step := range steps {
		s := top.lists[i]
		if !step(b.data[s.start:s.end]) {
			return nil // JSON of the wrong shape, reported
		}
	}
	if n := b.d.audiences; n > inlineAudiences {
		b.d.memos.New = func() any {
			results := make([]uint8, n)
			return &results
		}
	}
	return b.d
}

func (b *builder) attributes(list jsontext.Value) bool {
	keys := newUnique("attribute key", b.lim.MaxKeyBytes)
	var a rawAttribute
	return each(b, list, nil, "attributes", &a, func(i int) {
		at := namedElem(nil, "attributes", i, a.ID)
		keys.check(a.Key, a.ID, &at, b.p)
		checkLength("attribute ID", a.ID, b.lim.MaxIDBytes, &at, b.p)
	})
}

// typedAudiences and audiences parse both audience lists. A typed audience
// takes the place of a legacy one with the same ID: the web app writes
// every typed audience a second time in the legacy list with conditions
// that match nobody. The shadowed legacy copies are still checked.
func (b *builder) typedAudiences(list jsontext.Value) bool {
	return b.audienceList("typedAudiences", list)
}
func (b *builder) audiences(list jsontext.Value) bool { return b.audienceList("audiences", list) }

func (b *builder) audienceList(name string, list jsontext.Value) bool {
	ids := newUnique("audience ID", b.lim.MaxIDBytes)
	var a rawAudience
	return each(b, list, nil, name, &a, func(i int) {
		at := namedElem(nil, name, i, a.ID)
		if !ids.check(a.ID, a.ID, &at, b.p) {
			return
		}
		checkLength("audience name", a.Name, b.lim.MaxKeyBytes, &at, b.p)
		tree := b.walker.conditions(a.Conditions, &at, "conditions", b.lim.MaxConditionDepth, b.p)
		if _, shadowed := b.auds[a.ID]; !shadowed && tree != nil {
			b.auds[a.ID] = newAudience(a.ID, a.Name, tree, b.d.audiences)
			b.d.audiences++
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
		b.buildExperiment(&b.scratch, r, at)
		return &b.scratch
	}
	e := new(experiment)
	b.buildExperiment(e, r, at)
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

func (b *builder) experiments(list jsontext.Value) bool {
	var r rawExperiment
	return each(b, list, nil, "experiments", &r, func(i int) {
		at := namedElem(nil, "experiments", i, r.Key)
		b.addExperiment(&r, &at, -1)
	})
}

func (b *builder) groups(list jsontext.Value) bool {
	ids := newUnique("group ID", b.lim.MaxIDBytes)
	var r rawGroup
	return each(b, list, nil, "groups", &r, func(i int) {
		at := namedElem(nil, "groups", i, r.ID)
		ids.check(r.ID, r.ID, &at, b.p)
		b.groupIDs = append(b.groupIDs, r.ID)
		members := map[string]*experiment{}
		m := &b.member
		if !each(b, r.Experiments, &at, "experiments", m, func(j int) {
			mat := namedElem(&at, "experiments", j, m.Key)
			members[m.ID] = b.addExperiment(m, &mat, i)
		}) {
			return
		}
		// Only the random policy excludes: overlapping groups (and unknown
		// policies, as in the SDKs) let members run side by side.
		g := &group{id: r.ID, random: r.Policy == "random"}
		g.traffic = checkRanges(b, r.TrafficAllocation, &at, "experiment of this group", func(id string) (*experiment, bool) {
			e, ok := members[id]
			return e, ok
		})
		if g.random {
			for _, e := range members {
				e.group = g
			}
		}
	})
}

func (b *builder) buildRollouts(list jsontext.Value) bool {
	ids := newUnique("rollout ID", b.lim.MaxIDBytes)
	var r rawRollout
	return each(b, list, nil, "rollouts", &r, func(i int) {
		at := namedElem(nil, "rollouts", i, r.ID)
		ro := &rollout{id: r.ID}
		ruleIDs := newUnique("rule ID", b.lim.experimentIDBytes())
		re := &b.rule
		ro.rules = make([]*experiment, 0, countElements(r.Experiments))
		each(b, r.Experiments, &at, "experiments", re, func(j int) {
			rat := namedElem(&at, "experiments", j, re.Key)
			if !ruleIDs.check(re.ID, re.Key, &rat, b.p) {
				b.scratch = experiment{}
				b.buildExperiment(&b.scratch, re, &rat) // checked, not kept
				return
			}
			e := new(experiment)
			b.buildExperiment(e, re, &rat)
			ro.rules = append(ro.rules, e)
		})
		if ids.check(r.ID, r.ID, &at, b.p) {
			b.rollouts[r.ID] = ro
		}
	})
}

func (b *builder) flags(list jsontext.Value) bool {
	keys := newUnique("flag key", b.lim.MaxKeyBytes)
	var r rawFlag
	return each(b, list, nil, "featureFlags", &r, func(i int) {
		at := namedElem(nil, "featureFlags", i, r.Key)
		f := b.buildFlag(&r, &at)
		if keys.check(r.Key, r.Key, &at, b.p) {
			b.d.flags = append(b.d.flags, f)
			b.d.flagByKey[f.key] = f
		}
	})
}
