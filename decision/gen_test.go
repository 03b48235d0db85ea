package decision_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// The gen* types are the version-4 datafile as the generator writes it. They
// are also what the reference model reads back (after a JSON round trip), so
// the model sees exactly the bytes both SDKs parse.
type genDatafile struct {
	Version           string           `json:"version"`
	AccountID         string           `json:"accountId"`
	ProjectID         string           `json:"projectId"`
	Revision          string           `json:"revision"`
	AnonymizeIP       bool             `json:"anonymizeIP"`
	BotFiltering      bool             `json:"botFiltering"`
	SendFlagDecisions bool             `json:"sendFlagDecisions"`
	Attributes        []genAttribute   `json:"attributes"`
	Audiences         []genAudience    `json:"audiences"`
	TypedAudiences    []genAudience    `json:"typedAudiences"`
	Experiments       []*genExperiment `json:"experiments"`
	Groups            []*genGroup      `json:"groups"`
	FeatureFlags      []*genFlag       `json:"featureFlags"`
	Rollouts          []*genRollout    `json:"rollouts"`
	Events            []genEvent       `json:"events"`
	Integrations      []any            `json:"integrations"`
}

type genAttribute struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// genAudience.Conditions is a JSON string for legacy audiences and a decoded
// tree ([]any or a bare leaf map) for typed ones.
type genAudience struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Conditions any    `json:"conditions"`
}

type genExperiment struct {
	ID                string          `json:"id"`
	Key               string          `json:"key"`
	LayerID           string          `json:"layerId"`
	Status            string          `json:"status"`
	Variations        []*genVariation `json:"variations"`
	TrafficAllocation []genRange      `json:"trafficAllocation"`
	AudienceIDs       []string        `json:"audienceIds"`
	// nil leaves the field out so audienceIds apply; an empty slice is
	// written as [] and means "everyone".
	AudienceConditions any               `json:"audienceConditions,omitempty"`
	ForcedVariations   map[string]string `json:"forcedVariations"`
}

type genVariation struct {
	ID             string        `json:"id"`
	Key            string        `json:"key"`
	FeatureEnabled bool          `json:"featureEnabled"`
	Variables      []genVarValue `json:"variables"`
}

type genVarValue struct {
	ID    string `json:"id"`
	Value string `json:"value"`
}

type genRange struct {
	EntityID   string `json:"entityId"`
	EndOfRange int    `json:"endOfRange"`
}

type genGroup struct {
	ID                string           `json:"id"`
	Policy            string           `json:"policy"`
	TrafficAllocation []genRange       `json:"trafficAllocation"`
	Experiments       []*genExperiment `json:"experiments"`
}

type genFlag struct {
	ID            string        `json:"id"`
	Key           string        `json:"key"`
	RolloutID     string        `json:"rolloutId"`
	ExperimentIDs []string      `json:"experimentIds"`
	Variables     []genVariable `json:"variables"`
}

type genVariable struct {
	ID           string `json:"id"`
	Key          string `json:"key"`
	Type         string `json:"type"`
	DefaultValue string `json:"defaultValue"`
}

type genRollout struct {
	ID          string           `json:"id"`
	Experiments []*genExperiment `json:"experiments"`
}

type genEvent struct {
	ID            string   `json:"id"`
	Key           string   `json:"key"`
	ExperimentIDs []string `json:"experimentIds"`
}

// testUser is one generated user. Attrs keeps Go types (int, float32, ...)
// on purpose: both SDKs receive the very same map.
type testUser struct {
	ID    string
	Attrs map[string]any
}

func (u testUser) String() string {
	b, err := json.Marshal(u.Attrs)
	if err != nil {
		b = []byte(fmt.Sprintf("%#v", u.Attrs))
	}
	types := ""
	for _, k := range sortedKeys(u.Attrs) {
		types += fmt.Sprintf(" %s:%T", k, u.Attrs[k])
	}
	return fmt.Sprintf("{id: %q, attributes: %s, go types:%s}", u.ID, b, types)
}

func (df *genDatafile) marshal() []byte {
	b, err := json.Marshal(df)
	if err != nil {
		panic(err)
	}
	return b
}

// clone deep-copies through JSON so a mutation never touches the original.
func (df *genDatafile) clone() *genDatafile {
	var c genDatafile
	if err := json.Unmarshal(df.marshal(), &c); err != nil {
		panic(err)
	}
	return &c
}

// allExperiments lists top-level experiments, then group members, the order
// in which both SDKs index them.
func (df *genDatafile) allExperiments() []*genExperiment {
	all := slices.Clone(df.Experiments)
	for _, g := range df.Groups {
		all = append(all, g.Experiments...)
	}
	return all
}

func (df *genDatafile) groupOf(expID string) *genGroup {
	for _, g := range df.Groups {
		for _, e := range g.Experiments {
			if e.ID == expID {
				return g
			}
		}
	}
	return nil
}

func (df *genDatafile) flagOf(expID string) *genFlag {
	for _, f := range df.FeatureFlags {
		if slices.Contains(f.ExperimentIDs, expID) {
			return f
		}
	}
	return nil
}

func (df *genDatafile) rollout(id string) *genRollout {
	for _, r := range df.Rollouts {
		if r.ID == id {
			return r
		}
	}
	return nil
}

// attrSpec is a user attribute the generator knows how to target. Condition
// values and user values come from the same small pools so that audiences
// match often enough to be interesting.
type attrSpec struct {
	key    string
	kind   attrKind
	values []any
}

type attrKind int

const (
	kindString attrKind = iota
	kindNumber
	kindBool
	kindSemver
)

var semverPool = []any{
	"1", "1.2", "1.2.3", "1.2.4", "1.10.0", "2", "2.0.0", "0.9.9",
	"1.2.3-beta", "1.2.3-beta.2", "1.2.3-alpha", "1.2.3+build.7", "2.0.0-rc.1+build.1",
}

var attrSpecs = []attrSpec{
	{"country", kindString, []any{"us", "uk", "fr", "de", "jp"}},
	{"plan", kindString, []any{"free", "pro", "enterprise", "pro-trial"}},
	{"email", kindString, []any{"ann@example.com", "bob@test.org", "cy@example.com.au", ""}},
	{"age", kindNumber, []any{0.0, 17.0, 18.0, 21.0, 35.0, 65.0, 80.5}},
	{"score", kindNumber, []any{-3.0, 0.5, 1.5, 2.25, 10.0}},
	{"beta", kindBool, []any{true, false}},
	{"app_version", kindSemver, semverPool},
}

// Substrings worth asking for: each is contained in some pool values.
var substrings = []any{"pro", "example", "u", "@", "trial", "z"}

// bigNumbers are beyond what Python (and our rules) accept: |v| > 2^53 or
// not finite. The official Go SDK compares them anyway.
var bigNumbers = []any{1e16, -1e16, float64(1<<53 + 2), int64(1<<53 + 1), math.Inf(1), math.NaN()}

type gen struct {
	r    *rand.Rand
	next int
	ids  []string // user IDs, known before the datafile so whitelists name them
	df   *genDatafile
}

func newGen(seed uint64) *gen {
	return &gen{r: rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15+1)), next: 1000}
}

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *gen) id() string {
	g.next += 1 + g.r.IntN(50)
	return strconv.Itoa(100000000 + g.next)
}

func pick[T any](g *gen, xs []T) T { return xs[g.r.IntN(len(xs))] }

// users returns n users. IDs mix ASCII, non-ASCII and look-alike forms so the
// UTF-8 bytes fed to the hash vary.
func (g *gen) users(n int) []testUser {
	forms := []string{"user_%d", "u%d", "ユーザー%d", "Üser-%d", "%d", "visitor %d 🙂"}
	us := make([]testUser, n)
	for i := range us {
		id := fmt.Sprintf(pick(g, forms), g.r.IntN(1_000_000))
		for slices.ContainsFunc(us[:i], func(u testUser) bool { return u.ID == id }) {
			id += "x"
		}
		us[i] = testUser{ID: id, Attrs: g.attributes()}
		g.ids = append(g.ids, id)
	}
	return us
}

func (g *gen) attributes() map[string]any {
	if g.chance(0.05) {
		return nil
	}
	attrs := map[string]any{}
	for _, s := range attrSpecs {
		switch roll := g.r.Float64(); {
		case roll < 0.62:
			attrs[s.key] = g.userValue(s)
		case roll < 0.72:
			attrs[s.key] = g.wrongTyped(s)
		case roll < 0.76:
			attrs[s.key] = nil
		case roll < 0.78 && s.kind == kindNumber:
			attrs[s.key] = pick(g, bigNumbers)
		}
	}
	switch roll := g.r.Float64(); {
	case roll < 0.12:
		attrs["$opt_bucketing_id"] = fmt.Sprintf("bucket-%d", g.r.IntN(1000))
	case roll < 0.15:
		// not a string: both SDKs must fall back to the user ID
		attrs["$opt_bucketing_id"] = g.r.IntN(1000)
	}
	if g.chance(0.2) {
		attrs["unused"] = "noise"
	}
	return attrs
}

// userValue draws from the spec's pool; numbers come in assorted Go types,
// all of which both SDKs must read as the same float64.
func (g *gen) userValue(s attrSpec) any {
	v := pick(g, s.values)
	f, ok := v.(float64)
	if !ok {
		return v
	}
	if f != math.Trunc(f) {
		if g.chance(0.5) {
			return float32(f) // the pool's fractions are exact in float32
		}
		return f
	}
	switch g.r.IntN(6) {
	case 0:
		return int(f)
	case 1:
		return int32(f)
	case 2:
		return int64(f)
	case 3:
		if f >= 0 {
			return uint(f)
		}
		return int(f)
	case 4:
		return float32(f)
	default:
		return f
	}
}

func (g *gen) wrongTyped(s attrSpec) any {
	switch s.kind {
	case kindString, kindSemver:
		return pick(g, []any{42, 1.5, true, []string{"us"}})
	case kindNumber:
		return pick(g, []any{"21", true, "abc"})
	default:
		return pick(g, []any{"true", 1, 0.0})
	}
}

// datafile generates a valid datafile; call users first so whitelists can
// name real users.
func (g *gen) datafile() *genDatafile {
	df := &genDatafile{
		Version:           "4",
		AccountID:         g.id(),
		ProjectID:         g.id(),
		Revision:          strconv.Itoa(1 + g.r.IntN(100)),
		AnonymizeIP:       true,
		SendFlagDecisions: true,
		Events:            []genEvent{},
		Integrations:      []any{},
	}
	g.df = df
	for _, s := range attrSpecs {
		df.Attributes = append(df.Attributes, genAttribute{ID: g.id(), Key: s.key})
	}
	for range 3 + g.r.IntN(6) {
		g.addAudience()
	}
	for range 2 + g.r.IntN(7) {
		df.Experiments = append(df.Experiments, g.experiment(1+g.r.IntN(4)))
	}
	for range g.r.IntN(3) {
		grp := &genGroup{ID: g.id(), Policy: "random"}
		for range 2 + g.r.IntN(3) {
			grp.Experiments = append(grp.Experiments, g.experiment(1+g.r.IntN(4)))
		}
		g.allocateGroup(grp)
		df.Groups = append(df.Groups, grp)
	}

	free := df.allExperiments()
	g.r.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	for range 2 + g.r.IntN(7) {
		f := g.flag()
		for n := g.r.IntN(3); n > 0 && len(free) > 0; n-- {
			if g.chance(0.3) {
				continue // leave it a plain A/B test
			}
			g.attachToFlag(f, free[0])
			free = free[1:]
		}
		df.FeatureFlags = append(df.FeatureFlags, f)
	}
	return df
}

func (g *gen) addAudience() string {
	id := g.id()
	name := "audience " + id
	if g.chance(0.6) {
		g.df.TypedAudiences = append(g.df.TypedAudiences, genAudience{ID: id, Name: name, Conditions: g.typedConditions()})
		if g.chance(0.5) {
			// The real web app writes every typed audience a second time as a
			// legacy one that matches nobody; the typed one must win.
			g.df.Audiences = append(g.df.Audiences, genAudience{ID: id, Name: name, Conditions: mustJSONString(
				[]any{"or", map[string]any{"type": "custom_attribute", "name": "$opt_dummy_attribute", "value": "$opt_dummy_value"}})})
		}
	} else {
		g.df.Audiences = append(g.df.Audiences, genAudience{ID: id, Name: name, Conditions: mustJSONString(g.conditionTree(3, true))})
	}
	return id
}

func mustJSONString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (g *gen) audienceIDs() []string {
	var ids []string
	for _, a := range g.df.TypedAudiences {
		ids = append(ids, a.ID)
	}
	for _, a := range g.df.Audiences {
		if !slices.Contains(ids, a.ID) {
			ids = append(ids, a.ID)
		}
	}
	return ids
}

func (g *gen) typedConditions() any {
	switch roll := g.r.Float64(); {
	case roll < 0.05:
		return g.leaf() // a bare leaf, which both SDKs wrap in "or"
	case roll < 0.15:
		// not(and(null, false)) for users who have a country: the one shape
		// where the official Go SDK's "and" differs from the cross-SDK rule.
		return []any{"not", []any{"and",
			map[string]any{"type": "custom_attribute", "name": "ghost", "match": "exact", "value": "boo"},
			map[string]any{"type": "custom_attribute", "name": "country", "match": "exact", "value": "zz"}}}
	default:
		return g.conditionTree(3, true)
	}
}

// conditionTree returns ["and"|"or"|"not", ...]. Lists always start with an
// operator: the official Go SDK cannot evaluate operator-less nested lists
// (it prints to stdout and yields null), a known defect we do not test.
func (g *gen) conditionTree(depth int, top bool) any {
	if !top && (depth == 0 || g.chance(0.4)) {
		return g.leaf()
	}
	op := pick(g, []string{"and", "or", "or", "not"})
	n := 1 + g.r.IntN(3)
	if op == "not" {
		n = 1
		if g.chance(0.1) {
			n = 2 // only the first operand counts
		}
	}
	l := []any{op}
	for range n {
		l = append(l, g.conditionTree(depth-1, false))
	}
	return l
}

func (g *gen) leaf() map[string]any {
	s := pick(g, attrSpecs)
	c := map[string]any{"type": "custom_attribute", "name": s.key}
	switch roll := g.r.Float64(); {
	case roll < 0.03:
		c["match"], c["value"] = "regex", "^u" // unknown match: null
		return c
	case roll < 0.05:
		c["type"], c["match"], c["value"] = "custom_dimension", "exact", pick(g, s.values) // unknown type: null
		return c
	case roll < 0.07:
		return map[string]any{"type": "third_party_dimension", "name": "odp.audiences", "match": "qualified", "value": "segment-1"}
	case roll < 0.10:
		c["name"] = "ghost" // never set: exists is false, everything else null
		c["match"], c["value"] = pick(g, []string{"exact", "exists", "gt", "substring"}), "x"
		return c
	case roll < 0.16:
		// value of the wrong type for the match: null
		c["match"], c["value"] = pick(g, []any{"gt", "substring", "semver_eq", "exact", "le"}), pick(g, []any{"abc", 3.0, true, nil, []any{1}})
		return c
	case roll < 0.18 && s.kind == kindNumber:
		c["match"], c["value"] = pick(g, []string{"exact", "gt", "lt"}), 1e16
		return c
	}
	switch s.kind {
	case kindString:
		switch roll := g.r.Float64(); {
		case roll < 0.5:
			c["match"], c["value"] = "exact", pick(g, s.values)
			if g.chance(0.3) {
				delete(c, "match") // missing match means exact
			}
		case roll < 0.75:
			c["match"], c["value"] = "substring", pick(g, substrings)
		case roll < 0.9:
			c["match"] = "exists"
		default:
			c["match"], c["value"] = "semver_ge", "1.0" // plain strings are not versions: null
		}
	case kindNumber:
		switch roll := g.r.Float64(); {
		case roll < 0.25:
			c["match"], c["value"] = "exact", pick(g, s.values)
		case roll < 0.85:
			c["match"], c["value"] = pick(g, []string{"gt", "ge", "lt", "le"}), pick(g, s.values)
		default:
			c["match"] = "exists"
		}
	case kindBool:
		if g.chance(0.8) {
			c["match"], c["value"] = "exact", pick(g, s.values)
		} else {
			c["match"] = "exists"
		}
	case kindSemver:
		switch roll := g.r.Float64(); {
		case roll < 0.7:
			c["match"] = pick(g, []string{"semver_eq", "semver_gt", "semver_ge", "semver_lt", "semver_le"})
			c["value"] = pick(g, s.values)
		case roll < 0.85:
			c["match"], c["value"] = "exact", pick(g, s.values)
		default:
			c["match"] = "exists"
		}
	}
	return c
}

// audienceConditions returns nil (use audienceIds), [] (everyone), or a tree
// of audience IDs.
func (g *gen) audienceConditions() any {
	switch roll := g.r.Float64(); {
	case roll < 0.45:
		return nil
	case roll < 0.55:
		return []any{}
	case roll < 0.62:
		// top-level list without operator: an implicit "or"
		var l []any
		for range 1 + g.r.IntN(2) {
			l = append(l, g.audienceRef())
		}
		return l
	default:
		return g.audienceTree(2)
	}
}

// audienceRef never names a missing audience: ParseDatafile rejects such
// datafiles (datafile_test.go covers that), so the differential test only
// generates consistent ones.
func (g *gen) audienceRef() any {
	return pick(g, g.audienceIDs())
}

func (g *gen) audienceTree(depth int) []any {
	op := pick(g, []string{"and", "or", "or", "not"})
	n := 1 + g.r.IntN(2)
	if op == "not" {
		n = 1
	}
	l := []any{op}
	for range n {
		if depth > 0 && g.chance(0.3) {
			l = append(l, g.audienceTree(depth-1))
		} else {
			l = append(l, g.audienceRef())
		}
	}
	return l
}

func (g *gen) someAudienceIDs() []string {
	ids := []string{}
	for range g.r.IntN(3) {
		id := pick(g, g.audienceIDs())
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

func (g *gen) experiment(nVariations int) *genExperiment {
	id := g.id()
	e := &genExperiment{
		ID:                 id,
		Key:                "exp_" + id,
		LayerID:            g.id(),
		Status:             "Running",
		AudienceIDs:        g.someAudienceIDs(),
		AudienceConditions: g.audienceConditions(),
		ForcedVariations:   map[string]string{},
	}
	if g.chance(0.12) {
		e.Status = pick(g, []string{"Paused", "Not started", "Archived"})
	}
	for range nVariations {
		e.Variations = append(e.Variations, g.variation())
	}
	e.TrafficAllocation = g.traffic(variationIDs(e))
	g.whitelist(e)
	return e
}

func (g *gen) variation() *genVariation {
	id := g.id()
	return &genVariation{ID: id, Key: "var_" + id, Variables: []genVarValue{}}
}

func variationIDs(e *genExperiment) []string {
	ids := make([]string, len(e.Variations))
	for i, v := range e.Variations {
		ids[i] = v.ID
	}
	return ids
}

func (g *gen) whitelist(e *genExperiment) {
	if len(g.ids) == 0 || !g.chance(0.3) {
		return
	}
	for range 1 + g.r.IntN(3) {
		key := pick(g, e.Variations).Key
		if g.chance(0.1) {
			key = "no_such_variation"
		}
		e.ForcedVariations[pick(g, g.ids)] = key
	}
}

// traffic splits [0, 10000) among ids in order, sometimes with empty
// entityIds, a stray unknown entity, a zero-width entry, out-of-order ends, or
// total traffic below 100%.
func (g *gen) traffic(ids []string) []genRange {
	entities := slices.Clone(ids)
	for range g.r.IntN(3) {
		if g.chance(0.5) {
			entities = slices.Insert(entities, g.r.IntN(len(entities)+1), "")
		}
	}
	ends := make([]int, len(entities))
	for i := range ends {
		ends[i] = g.r.IntN(10001)
	}
	slices.Sort(ends)
	if len(ends) > 0 && g.chance(0.8) {
		ends[len(ends)-1] = 10000
	}
	if len(ends) > 1 && g.chance(0.04) {
		i := g.r.IntN(len(ends) - 1)
		ends[i], ends[i+1] = ends[i+1], ends[i]
	}
	out := make([]genRange, len(entities))
	for i := range out {
		out[i] = genRange{EntityID: entities[i], EndOfRange: ends[i]}
	}
	return out
}

func (g *gen) allocateGroup(grp *genGroup) {
	ids := []string{}
	for _, e := range grp.Experiments {
		if g.chance(0.9) { // now and then a member gets no group traffic
			ids = append(ids, e.ID)
		}
	}
	g.r.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	grp.TrafficAllocation = g.traffic(ids)
}

var varTypes = []string{"boolean", "integer", "double", "string"}

func (g *gen) varValue(typ string) string {
	switch typ {
	case "boolean":
		return pick(g, []string{"true", "false"})
	case "integer":
		return pick(g, []string{"0", "42", "-7", "2147483648", "1000000"})
	case "double":
		return pick(g, []string{"0.5", "3.14159", "-2.0", "1e3", "10"})
	default:
		return pick(g, []string{"", "hello", "ünïcode ✓", `with "quotes"`, "42"})
	}
}

func (g *gen) flag() *genFlag {
	id := g.id()
	f := &genFlag{ID: id, Key: "flag_" + id, ExperimentIDs: []string{}, Variables: []genVariable{}}
	for range g.r.IntN(5) {
		vid := g.id()
		typ := pick(g, varTypes)
		f.Variables = append(f.Variables, genVariable{ID: vid, Key: "var_" + typ + "_" + vid, Type: typ, DefaultValue: g.varValue(typ)})
	}
	switch roll := g.r.Float64(); {
	case roll < 0.08:
		f.RolloutID = ""
	case roll < 0.12:
		r := &genRollout{ID: g.id(), Experiments: []*genExperiment{}}
		g.df.Rollouts = append(g.df.Rollouts, r)
		f.RolloutID = r.ID
	default:
		r := &genRollout{ID: g.id()}
		n := 1 + g.r.IntN(4)
		for i := range n {
			r.Experiments = append(r.Experiments, g.rule(f, r.ID, i == n-1))
		}
		g.df.Rollouts = append(g.df.Rollouts, r)
		f.RolloutID = r.ID
	}
	return f
}

// rule builds a rollout rule; the last one is "Everyone Else", which has no
// audience in real datafiles (but may here, rarely).
func (g *gen) rule(f *genFlag, layerID string, last bool) *genExperiment {
	id := g.id()
	r := &genExperiment{
		ID:               id,
		Key:              "rule_" + id,
		LayerID:          layerID,
		Status:           "Running",
		AudienceIDs:      []string{},
		ForcedVariations: map[string]string{},
	}
	if last {
		r.Key = "everyone_else_" + id
		if g.chance(0.1) {
			r.AudienceIDs = g.someAudienceIDs()
		}
	} else {
		r.AudienceIDs = g.someAudienceIDs()
		r.AudienceConditions = g.audienceConditions()
	}
	for range 1 + g.r.IntN(2) {
		v := g.variation()
		g.fillVariation(f, v)
		r.Variations = append(r.Variations, v)
	}
	if len(r.Variations) == 1 && g.chance(0.8) {
		r.TrafficAllocation = []genRange{{EntityID: r.Variations[0].ID, EndOfRange: pick(g, []int{0, 10000, 10000, g.r.IntN(10001)})}}
	} else {
		r.TrafficAllocation = g.traffic(variationIDs(r))
	}
	if len(g.ids) > 0 && g.chance(0.1) {
		// Neither SDK whitelists in rollouts; a forced variation here must be ignored.
		r.ForcedVariations[pick(g, g.ids)] = r.Variations[0].Key
	}
	return r
}

func (g *gen) fillVariation(f *genFlag, v *genVariation) {
	v.FeatureEnabled = g.chance(0.7)
	v.Variables = []genVarValue{}
	for _, fv := range f.Variables {
		if g.chance(0.7) {
			v.Variables = append(v.Variables, genVarValue{ID: fv.ID, Value: g.varValue(fv.Type)})
		}
	}
}

func (g *gen) attachToFlag(f *genFlag, e *genExperiment) {
	for _, v := range e.Variations {
		g.fillVariation(f, v)
	}
	if g.chance(0.5) {
		f.ExperimentIDs = append(f.ExperimentIDs, e.ID)
	} else {
		f.ExperimentIDs = append([]string{e.ID}, f.ExperimentIDs...)
	}
}

// mutate returns a changed copy of df, as a project would look after edits
// in the web app, and what was done. A variation is always removed somewhere
// so saved profiles pointing at it must be re-bucketed.
func (g *gen) mutate(orig *genDatafile) (*genDatafile, []string) {
	df := orig.clone()
	g.df = df
	df.Revision = strconv.Itoa(mustAtoi(df.Revision) + 1)
	var done []string
	if e := g.pickExperiment(func(e *genExperiment) bool { return len(e.Variations) > 1 }); e != nil {
		done = append(done, g.removeVariation(e))
	}
	mutations := []func() string{
		g.mutReallocate, g.mutReallocate, g.mutRemoveVariation, g.mutAddVariation,
		g.mutExperimentAudience, g.mutAudienceConditions, g.mutIntoGroup, g.mutOutOfGroup,
		g.mutStatus, g.mutWhitelist, g.mutNewFlagExperiment, g.mutRollout, g.mutFlagVariation,
	}
	for range 2 + g.r.IntN(4) {
		if s := pick(g, mutations)(); s != "" {
			done = append(done, s)
		}
	}
	return df, done
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func (g *gen) pickExperiment(ok func(*genExperiment) bool) *genExperiment {
	var cands []*genExperiment
	for _, e := range g.df.allExperiments() {
		if ok(e) {
			cands = append(cands, e)
		}
	}
	if len(cands) == 0 {
		return nil
	}
	return pick(g, cands)
}

func anyExperiment(*genExperiment) bool { return true }

func (g *gen) mutReallocate() string {
	e := g.pickExperiment(anyExperiment)
	if e == nil {
		return ""
	}
	e.TrafficAllocation = g.traffic(variationIDs(e))
	return "traffic of " + e.Key + " reallocated"
}

func (g *gen) mutRemoveVariation() string {
	if e := g.pickExperiment(func(e *genExperiment) bool { return len(e.Variations) > 1 }); e != nil {
		return g.removeVariation(e)
	}
	return ""
}

func (g *gen) removeVariation(e *genExperiment) string {
	i := g.r.IntN(len(e.Variations))
	gone := e.Variations[i]
	e.Variations = slices.Delete(e.Variations, i, i+1)
	e.TrafficAllocation = g.traffic(variationIDs(e))
	return fmt.Sprintf("variation %s removed from %s (traffic reallocated)", gone.Key, e.Key)
}

func (g *gen) mutAddVariation() string {
	e := g.pickExperiment(anyExperiment)
	if e == nil {
		return ""
	}
	v := g.variation()
	if f := g.df.flagOf(e.ID); f != nil {
		g.fillVariation(f, v)
	}
	e.Variations = append(e.Variations, v)
	e.TrafficAllocation = g.traffic(variationIDs(e))
	return fmt.Sprintf("variation %s added to %s", v.Key, e.Key)
}

func (g *gen) mutExperimentAudience() string {
	e := g.pickExperiment(anyExperiment)
	if e == nil {
		return ""
	}
	e.AudienceIDs = g.someAudienceIDs()
	e.AudienceConditions = g.audienceConditions()
	return "audiences of " + e.Key + " changed"
}

func (g *gen) mutAudienceConditions() string {
	n := len(g.df.TypedAudiences) + len(g.df.Audiences)
	if n == 0 {
		return ""
	}
	i := g.r.IntN(n)
	if i < len(g.df.TypedAudiences) {
		a := &g.df.TypedAudiences[i]
		a.Conditions = g.typedConditions()
		return "conditions of typed audience " + a.ID + " changed"
	}
	a := &g.df.Audiences[i-len(g.df.TypedAudiences)]
	a.Conditions = mustJSONString(g.conditionTree(3, true))
	return "conditions of audience " + a.ID + " changed"
}

func (g *gen) mutIntoGroup() string {
	if len(g.df.Experiments) == 0 {
		return ""
	}
	i := g.r.IntN(len(g.df.Experiments))
	e := g.df.Experiments[i]
	g.df.Experiments = slices.Delete(g.df.Experiments, i, i+1)
	var grp *genGroup
	if len(g.df.Groups) == 0 || g.chance(0.3) {
		grp = &genGroup{ID: g.id(), Policy: "random"}
		g.df.Groups = append(g.df.Groups, grp)
	} else {
		grp = pick(g, g.df.Groups)
	}
	grp.Experiments = append(grp.Experiments, e)
	g.allocateGroup(grp)
	return fmt.Sprintf("%s moved into group %s", e.Key, grp.ID)
}

func (g *gen) mutOutOfGroup() string {
	var cands []*genGroup
	for _, grp := range g.df.Groups {
		if len(grp.Experiments) > 0 {
			cands = append(cands, grp)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	grp := pick(g, cands)
	i := g.r.IntN(len(grp.Experiments))
	e := grp.Experiments[i]
	grp.Experiments = slices.Delete(grp.Experiments, i, i+1)
	grp.TrafficAllocation = slices.DeleteFunc(grp.TrafficAllocation, func(r genRange) bool { return r.EntityID == e.ID })
	g.df.Experiments = append(g.df.Experiments, e)
	return fmt.Sprintf("%s moved out of group %s", e.Key, grp.ID)
}

func (g *gen) mutStatus() string {
	e := g.pickExperiment(anyExperiment)
	if e == nil {
		return ""
	}
	if e.Status == "Running" {
		e.Status = "Paused"
	} else {
		e.Status = "Running"
	}
	return e.Key + " now " + e.Status
}

func (g *gen) mutWhitelist() string {
	e := g.pickExperiment(anyExperiment)
	if e == nil {
		return ""
	}
	e.ForcedVariations = map[string]string{}
	g.whitelist(e)
	return "whitelist of " + e.Key + " changed"
}

func (g *gen) mutNewFlagExperiment() string {
	if len(g.df.FeatureFlags) == 0 {
		return ""
	}
	f := pick(g, g.df.FeatureFlags)
	e := g.experiment(1 + g.r.IntN(3))
	g.df.Experiments = append(g.df.Experiments, e)
	g.attachToFlag(f, e)
	return fmt.Sprintf("new experiment %s added to %s", e.Key, f.Key)
}

func (g *gen) mutRollout() string {
	var cands []*genRollout
	for _, r := range g.df.Rollouts {
		if len(r.Experiments) > 0 {
			cands = append(cands, r)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	r := pick(g, cands)
	rule := pick(g, r.Experiments)
	if g.chance(0.5) {
		rule.TrafficAllocation = g.traffic(variationIDs(rule))
		return "traffic of rule " + rule.Key + " changed"
	}
	rule.AudienceIDs = g.someAudienceIDs()
	rule.AudienceConditions = g.audienceConditions()
	return "audiences of rule " + rule.Key + " changed"
}

func (g *gen) mutFlagVariation() string {
	e := g.pickExperiment(func(e *genExperiment) bool { return g.df.flagOf(e.ID) != nil })
	if e == nil {
		return ""
	}
	v := pick(g, e.Variations)
	g.fillVariation(g.df.flagOf(e.ID), v)
	return fmt.Sprintf("featureEnabled/variables of %s in %s changed", v.Key, e.Key)
}
