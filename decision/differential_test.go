package decision_test

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/optimizely/go-sdk/v2/pkg/decision/evaluator/matchers"
	optentities "github.com/optimizely/go-sdk/v2/pkg/entities"
	"github.com/twmb/murmur3"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

var (
	diffN     = flag.Int("diff.n", 40, "TestDifferential: number of random datafiles")
	diffUsers = flag.Int("diff.users", 60, "TestDifferential: users per datafile")
	diffSeed  = flag.Uint64("diff.seed", 1, "TestDifferential: seed of the first datafile (datafile i uses seed+i)")
)

// TestDifferential runs our client and the official Go SDK on random
// datafiles and users, then on a mutated datafile with each side's profile
// store carried over, and requires identical answers and identical profile
// writes, except for the documented differences below. A quarter of the
// flag calls carry random forced decisions (for flags, experiments,
// delivery rules, rules the flag does not have, variation keys it does not
// have), set on both sides; with INCLUDE_REASONS (a third of the flag
// calls), a decision both sides made alike must carry the SDK's reasons
// word for word, unless a documented difference reaches its path
// (compareReasons).
//
// Every decision is also replayed on a small reference model of the rules in
// NOTES.md, once with the cross-SDK rules against our profile store and once
// with the official Go SDK's rules against its store. Both sides must match
// their model exactly (answer and profile writes), which is what lets a
// disagreement be attributed to a documented rule instead of being ignored:
//
//   - and-under-not: our "and" is false when any operand is false (Python,
//     JS); the official Go SDK returns null at the first null operand. Only
//     visible under "not".
//   - experiment-status: we decide only Running experiments (Python); the
//     official Go SDK ignores status.
//   - float32-bucketing: the official Go SDK v2.0.0 computes the bucket in
//     float32 (fixed after v2.0.0 by go-sdk PR #423); we use float64.
//   - big-numbers: we treat numbers that are not finite or exceed 2^53 in
//     magnitude as null (Python); the official Go SDK compares them.
//   - carry-over: the two profile stores already differ for this user
//     because of one of the above, earlier.
func TestDifferential(t *testing.T) {
	stats := newDiffStats()
	for i := range *diffN {
		seed := *diffSeed + uint64(i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runRandomCase(t, seed, *diffUsers, stats)
		})
	}
	stats.report(t)
	if *diffN >= 20 && !t.Failed() {
		// A run this size must have exercised what the test is for; if the
		// generator drifts so it no longer does, say so.
		for _, want := range []string{
			"experiment: stale saved variation re-bucketed",
			"experiment: saved variation served although fresh bucketing differs",
			"experiment: whitelisted",
			"experiment: group excluded",
			"flag: rollout rule",
			"flag: everyone else after a targeted rule missed bucketing",
			"flag: forced flag",
			"flag: forced experiment rule",
			"flag: forced delivery rule",
			"flag: forced variation not the flag's, ignored",
			"reasons compared, flag: experiment",
			"reasons compared, flag: rollout rule",
			"reasons compared, flag: everyone else after a targeted rule missed bucketing",
			"reasons compared, flag: no decision",
			"reasons compared, flag: forced flag",
			"reasons compared, flag: forced experiment rule",
			"reasons compared, flag: forced delivery rule",
			"reasons compared, flag experiment: profile",
			"reasons compared, flag experiment: whitelisted",
			"reasons compared, flag experiment: group excluded",
			"reasons compared, flag experiment: audience excluded",
			"reasons compared, flag experiment: traffic excluded",
			"reasons compared, without profiles (IgnoreUserProfileService)",
			"reasons compared, forced variation not the flag's",
		} {
			if stats.coverage[want] == 0 {
				t.Errorf("coverage: no decision exercised %q", want)
			}
		}
		for _, m := range sdkMessages {
			if stats.coverage["reasons compared, message: "+m] == 0 {
				t.Errorf("coverage: no reasons compared held the SDK's %q", m)
			}
		}
		for _, want := range []string{"and-under-not", "experiment-status"} {
			if stats.classified[want] == 0 {
				t.Errorf("coverage: no difference classified as %q", want)
			}
		}
	}
}

func runRandomCase(t *testing.T, seed uint64, nUsers int, stats *diffStats) {
	g := newGen(seed)
	users := g.users(nUsers)
	df := g.datafile()
	mutated, changes := g.mutate(df)
	c := newDiffCase(t, seed, stats)
	c.run(df, users, "original datafile")
	c.run(mutated, users, "mutated datafile: "+strings.Join(changes, "; "))
}

// TestDifferentialFixtures replays the datafiles kept under
// testdata/differential through the same comparison.
func TestDifferentialFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/differential/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata/differential")
	}
	stats := newDiffStats()
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var fx struct {
				About    string       `json:"about"`
				Datafile *genDatafile `json:"datafile"`
				Mutated  *genDatafile `json:"mutated"`
				Users    []struct {
					ID         string         `json:"id"`
					Attributes map[string]any `json:"attributes"`
				} `json:"users"`
			}
			if err := json.Unmarshal(raw, &fx); err != nil {
				t.Fatal(err)
			}
			var users []testUser
			for _, u := range fx.Users {
				users = append(users, testUser{ID: u.ID, Attrs: u.Attributes})
			}
			c := newDiffCase(t, 0, stats)
			c.run(fx.Datafile, users, "fixture datafile")
			if fx.Mutated != nil {
				c.run(fx.Mutated, users, "fixture mutated datafile")
			}
		})
	}
	stats.report(t)
}

// ---- reference model -------------------------------------------------------

type tri int8

const (
	triFalse tri = iota
	triTrue
	triNull
)

// rules are the knobs on which the official Go SDK v2.0.0 departs from the
// cross-SDK rules we implement.
type rules struct {
	andStopsAtNull   bool
	ignoreStatus     bool
	float32Buckets   bool
	acceptBigNumbers bool
}

var (
	crossRules    = rules{}
	officialRules = rules{andStopsAtNull: true, ignoreStatus: true, float32Buckets: true, acceptBigNumbers: true}
)

var ruleSwitches = []struct {
	name string
	set  func(*rules)
}{
	{"and-under-not", func(r *rules) { r.andStopsAtNull = true }},
	{"experiment-status", func(r *rules) { r.ignoreStatus = true }},
	{"float32-bucketing", func(r *rules) { r.float32Buckets = true }},
	{"big-numbers", func(r *rules) { r.acceptBigNumbers = true }},
}

// mTree is a parsed condition tree: an operator node, a leaf condition, or a
// reference to an audience.
type mTree struct {
	op       string
	kids     []*mTree
	cond     *optentities.Condition
	audience string
}

type mExperiment struct {
	*genExperiment
	tree  *mTree // nil lets everyone in
	group *genGroup
	byID  map[string]*genVariation
	byKey map[string]*genVariation
}

type model struct {
	df        *genDatafile
	exps      map[string]*mExperiment
	byKey     map[string]*mExperiment
	expKeys   []string
	audiences map[string]*mTree
	flags     map[string]*genFlag
	flagKeys  []string
	rollouts  map[string][]*mExperiment
}

// newModel reads the datafile bytes the SDKs get, not the generator's
// structs, so that what is modelled is what was sent.
func newModel(data []byte) (*model, error) {
	var df genDatafile
	if err := json.Unmarshal(data, &df); err != nil {
		return nil, err
	}
	m := &model{
		df:        &df,
		exps:      map[string]*mExperiment{},
		byKey:     map[string]*mExperiment{},
		audiences: map[string]*mTree{},
		flags:     map[string]*genFlag{},
		rollouts:  map[string][]*mExperiment{},
	}
	// typedAudiences first: they win over a legacy audience with the same ID.
	for _, a := range slices.Concat(df.TypedAudiences, df.Audiences) {
		if _, dup := m.audiences[a.ID]; dup {
			continue
		}
		tree, err := parseConditions(a.Conditions)
		if err != nil {
			return nil, fmt.Errorf("audience %s: %w", a.ID, err)
		}
		m.audiences[a.ID] = tree
	}
	for _, e := range df.allExperiments() {
		me, err := newMExperiment(e, df.groupOf(e.ID))
		if err != nil {
			return nil, err
		}
		m.exps[e.ID] = me
		m.byKey[e.Key] = me
		m.expKeys = append(m.expKeys, e.Key)
	}
	for _, r := range df.Rollouts {
		rules := []*mExperiment{}
		for _, e := range r.Experiments {
			me, err := newMExperiment(e, nil)
			if err != nil {
				return nil, err
			}
			rules = append(rules, me)
		}
		m.rollouts[r.ID] = rules
	}
	for _, f := range df.FeatureFlags {
		m.flags[f.Key] = f
		m.flagKeys = append(m.flagKeys, f.Key)
	}
	return m, nil
}

func newMExperiment(e *genExperiment, g *genGroup) (*mExperiment, error) {
	me := &mExperiment{genExperiment: e, group: g, byID: map[string]*genVariation{}, byKey: map[string]*genVariation{}}
	for _, v := range e.Variations {
		me.byID[v.ID] = v
		me.byKey[v.Key] = v
	}
	switch ac := e.AudienceConditions.(type) {
	case nil:
		if len(e.AudienceIDs) > 0 {
			me.tree = &mTree{op: "or"}
			for _, id := range e.AudienceIDs {
				me.tree.kids = append(me.tree.kids, &mTree{audience: id})
			}
		}
	case []any:
		if len(ac) > 0 {
			me.tree = parseAudienceList(ac)
		}
	default:
		return nil, fmt.Errorf("experiment %s: audienceConditions of type %T", e.Key, ac)
	}
	return me, nil
}

func isOperator(v any) bool {
	s, ok := v.(string)
	return ok && (s == "and" || s == "or" || s == "not")
}

// parseAudienceList parses audienceConditions: a leading operator, else an
// implicit "or"; strings are audience IDs.
func parseAudienceList(l []any) *mTree {
	t := &mTree{op: "or"}
	if len(l) > 0 && isOperator(l[0]) {
		t.op, l = l[0].(string), l[1:]
	}
	for _, e := range l {
		switch e := e.(type) {
		case string:
			t.kids = append(t.kids, &mTree{audience: e})
		case []any:
			t.kids = append(t.kids, parseAudienceList(e))
		}
	}
	return t
}

// parseConditions parses an audience's conditions: a JSON string (legacy
// audiences) or an already decoded tree; a bare leaf is wrapped in "or".
func parseConditions(c any) (*mTree, error) {
	if s, ok := c.(string); ok {
		if err := json.Unmarshal([]byte(s), &c); err != nil {
			return nil, err
		}
	}
	switch c := c.(type) {
	case map[string]any:
		return &mTree{op: "or", kids: []*mTree{leafNode(c)}}, nil
	case []any:
		return parseConditionList(c), nil
	}
	return nil, fmt.Errorf("conditions of type %T", c)
}

func parseConditionList(l []any) *mTree {
	t := &mTree{op: "or"}
	if len(l) > 0 && isOperator(l[0]) {
		t.op, l = l[0].(string), l[1:]
	}
	for _, e := range l {
		switch e := e.(type) {
		case map[string]any:
			t.kids = append(t.kids, leafNode(e))
		case []any:
			t.kids = append(t.kids, parseConditionList(e))
		}
	}
	return t
}

func leafNode(m map[string]any) *mTree {
	str := func(k string) string { s, _ := m[k].(string); return s }
	b, _ := json.Marshal(m)
	return &mTree{cond: &optentities.Condition{
		Name: str("name"), Type: str("type"), Match: str("match"), Value: m["value"], StringRepresentation: string(b),
	}}
}

func (m *model) eval(r rules, t *mTree, u testUser) tri {
	switch {
	case t.cond != nil:
		return evalLeaf(r, *t.cond, u)
	case t.audience != "":
		a, ok := m.audiences[t.audience]
		if !ok {
			return triNull
		}
		return m.eval(r, a, u)
	}
	switch t.op {
	case "and":
		sawNull := false
		for _, k := range t.kids {
			switch m.eval(r, k, u) {
			case triFalse:
				return triFalse
			case triNull:
				if r.andStopsAtNull {
					return triNull
				}
				sawNull = true
			}
		}
		if sawNull {
			return triNull
		}
		return triTrue
	case "not":
		if len(t.kids) == 0 {
			return triNull
		}
		switch m.eval(r, t.kids[0], u) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triNull
	default:
		sawNull := false
		for _, k := range t.kids {
			switch m.eval(r, k, u) {
			case triTrue:
				return triTrue
			case triNull:
				sawNull = true
			}
		}
		if sawNull {
			return triNull
		}
		return triFalse
	}
}

type discardProducer struct{}

func (discardProducer) Debug(string)      {}
func (discardProducer) Info(string)       {}
func (discardProducer) Warning(string)    {}
func (discardProducer) Error(string, any) {}

// evalLeaf borrows the official SDK's matchers for single conditions (the
// part where no difference is documented) and adds the Python number rule.
func evalLeaf(r rules, c optentities.Condition, u testUser) tri {
	if c.Type != "custom_attribute" && c.Type != "third_party_dimension" {
		return triNull
	}
	if c.Match == "" {
		c.Match = matchers.ExactMatchType
	}
	match, ok := matchers.Get(c.Match)
	if !ok {
		return triNull
	}
	switch c.Match {
	case "exact", "gt", "ge", "lt", "le":
		if !r.acceptBigNumbers && (unsafeNumber(c.Value) || unsafeNumber(u.Attrs[c.Name])) {
			return triNull
		}
	}
	ok, err := match(c, optentities.UserContext{ID: u.ID, Attributes: u.Attrs}, discardProducer{})
	if err != nil {
		return triNull
	}
	if ok {
		return triTrue
	}
	return triFalse
}

// unsafeNumber reports a number Python refuses to compare: not finite, or
// beyond 2^53 in magnitude (integers checked exactly, not after rounding).
func unsafeNumber(v any) bool {
	const limit = 1 << 53
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := rv.Int()
		return n > limit || n < -limit
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return rv.Uint() > limit
	case reflect.Float32, reflect.Float64:
		f := rv.Float()
		return math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > limit
	}
	return false
}

func bucketingID(u testUser) string {
	if s, ok := u.Attrs["$opt_bucketing_id"].(string); ok {
		return s
	}
	return u.ID
}

func bucketValue(key string, float32Buckets bool) int {
	h := murmur3.SeedSum32(1, []byte(key))
	if float32Buckets {
		ratio := float32(h) / float32(math.Pow(2, 32))
		return int(ratio * 10000)
	}
	return int(math.Floor(float64(h) / (1 << 32) * 10000))
}

func bucketEntity(key string, ranges []genRange, float32Buckets bool) string {
	b := bucketValue(key, float32Buckets)
	for _, r := range ranges {
		if b < r.EndOfRange {
			return r.EntityID
		}
	}
	return ""
}

// expOutcome is what the model expects for one experiment decision.
type expOutcome struct {
	v     *genVariation
	save  bool   // v must be written to the profile
	via   string // how it was decided, for coverage
	stale bool   // the profile held a variation that no longer exists
}

func (m *model) decideExperiment(r rules, u testUser, e *mExperiment, profile map[string]string, ignoreUPS bool) expOutcome {
	if !r.ignoreStatus && e.Status != "Running" {
		return expOutcome{via: "not running"}
	}
	if key, ok := e.ForcedVariations[u.ID]; ok {
		if v := e.byKey[key]; v != nil {
			return expOutcome{v: v, via: "whitelisted"}
		}
	}
	var out expOutcome
	if !ignoreUPS {
		if id, ok := profile[e.ID]; ok {
			if v := e.byID[id]; v != nil {
				return expOutcome{v: v, via: "profile"}
			}
			out.stale = true
		}
	}
	if e.tree != nil && m.eval(r, e.tree, u) != triTrue {
		out.via = "audience excluded"
		return out
	}
	bid := bucketingID(u)
	if e.group != nil && e.group.Policy == "random" && bucketEntity(bid+e.group.ID, e.group.TrafficAllocation, r.float32Buckets) != e.ID {
		out.via = "group excluded"
		return out
	}
	out.v = e.byID[bucketEntity(bid+e.ID, e.TrafficAllocation, r.float32Buckets)]
	out.via = "bucketed"
	if out.v == nil {
		out.via = "traffic excluded"
	}
	out.save = out.v != nil && !ignoreUPS
	return out
}

type decideOpts struct {
	ignoreUPS, excludeVariables, enabledOnly, includeReasons bool
	// forced are the user's forced decisions for the call (flag calls
	// only), set on both sides as Agent sets a decide body's.
	forced []decision.ForcedDecision
}

func (o decideOpts) String() string {
	var s []string
	for _, x := range []struct {
		on   bool
		name string
	}{{o.ignoreUPS, "IgnoreUserProfileService"}, {o.excludeVariables, "ExcludeVariables"}, {o.enabledOnly, "EnabledFlagsOnly"}, {o.includeReasons, "IncludeReasons"}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	for _, fd := range o.forced {
		s = append(s, fmt.Sprintf("forced(%q, %q → %q)", fd.FlagKey, fd.RuleKey, fd.VariationKey))
	}
	return "[" + strings.Join(s, " ") + "]"
}

// flagResult is the comparable part of a flag decision.
type flagResult struct {
	Enabled      bool
	VariationKey string
	RuleKey      string
	Variables    map[string]any
}

func (f flagResult) String() string {
	b, _ := json.Marshal(f.Variables)
	return fmt.Sprintf("{enabled: %v, variation: %q, rule: %q, variables: %s}", f.Enabled, f.VariationKey, f.RuleKey, b)
}

// normalizeVariables makes typed values comparable whatever integer or float
// width an implementation picked.
func normalizeVariables(vs map[string]any) map[string]any {
	out := make(map[string]any, len(vs))
	for k, v := range vs {
		rv := reflect.ValueOf(v)
		switch rv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			v = rv.Int()
		case reflect.Float32:
			v = rv.Float()
		}
		out[k] = v
	}
	return out
}

// flagOutcome is what the model expects for one flag decision.
type flagOutcome struct {
	res   flagResult
	saves map[string]string
	exps  []expOutcome
	path  string
	// forcedInvalid: a forced decision the decision reached named a
	// variation the flag does not have (ignored).
	forcedInvalid bool
}

// forcedVariation is the model of forced decisions as the official Go SDK
// applies them: the last entry for the flag and rule, its variation key
// looked up among all the flag's variations (experiments', then delivery
// rules', in order); nil when none is set or the key is not the flag's.
func (m *model) forcedVariation(f *genFlag, ruleKey string, o decideOpts) (v *genVariation, set bool) {
	for i := len(o.forced) - 1; i >= 0; i-- {
		fd := o.forced[i]
		if fd.FlagKey != f.Key || fd.RuleKey != ruleKey {
			continue
		}
		rules := []*mExperiment{}
		for _, id := range f.ExperimentIDs {
			if e := m.exps[id]; e != nil {
				rules = append(rules, e)
			}
		}
		for _, e := range append(rules, m.rollouts[f.RolloutID]...) {
			if v := e.byKey[fd.VariationKey]; v != nil {
				return v, true
			}
		}
		return nil, true
	}
	return nil, false
}

func (m *model) decideFlag(r rules, u testUser, f *genFlag, profile map[string]string, o decideOpts) flagOutcome {
	out := flagOutcome{saves: map[string]string{}}
	if v, set := m.forcedVariation(f, "", o); v != nil {
		out.res, out.path = flagValue(f, v, "", o), "forced flag"
		return out
	} else if set {
		out.forcedInvalid = true
	}
	for _, id := range f.ExperimentIDs {
		e := m.exps[id]
		if e == nil {
			continue
		}
		if v, set := m.forcedVariation(f, e.Key, o); v != nil {
			out.res, out.path = flagValue(f, v, e.Key, o), "forced experiment rule"
			return out
		} else if set {
			out.forcedInvalid = true
		}
		eo := m.decideExperiment(r, u, e, profile, o.ignoreUPS)
		out.exps = append(out.exps, eo)
		if eo.save {
			out.saves[e.ID] = eo.v.ID
		}
		if eo.v != nil {
			out.res, out.path = flagValue(f, eo.v, e.Key, o), "experiment"
			return out
		}
	}
	out.res, out.path = flagValue(f, nil, "", o), "no decision"
	rules := m.rollouts[f.RolloutID]
	if len(rules) == 0 {
		return out
	}
	bid := bucketingID(u)
	missed := false
	forced := func(rule *mExperiment) bool {
		v, set := m.forcedVariation(f, rule.Key, o)
		if v != nil {
			out.res, out.path = flagValue(f, v, rule.Key, o), "forced delivery rule"
		} else if set {
			out.forcedInvalid = true
		}
		return v != nil
	}
	for _, rule := range rules[:len(rules)-1] {
		if forced(rule) {
			return out
		}
		if rule.tree != nil && m.eval(r, rule.tree, u) != triTrue {
			continue
		}
		v := rule.byID[bucketEntity(bid+rule.ID, rule.TrafficAllocation, r.float32Buckets)]
		if v == nil {
			missed = true
			break
		}
		out.res, out.path = flagValue(f, v, rule.Key, o), "rollout rule"
		return out
	}
	last := rules[len(rules)-1]
	if forced(last) {
		return out
	}
	if last.tree != nil && m.eval(r, last.tree, u) != triTrue {
		return out
	}
	if v := last.byID[bucketEntity(bid+last.ID, last.TrafficAllocation, r.float32Buckets)]; v != nil {
		out.res, out.path = flagValue(f, v, last.Key, o), "everyone else"
		if missed {
			out.path = "everyone else after a targeted rule missed bucketing"
		}
	}
	return out
}

func flagValue(f *genFlag, v *genVariation, ruleKey string, o decideOpts) flagResult {
	res := flagResult{RuleKey: ruleKey, Variables: map[string]any{}}
	if v != nil {
		res.Enabled, res.VariationKey = v.FeatureEnabled, v.Key
	}
	if o.excludeVariables {
		return res
	}
	for _, fv := range f.Variables {
		val := fv.DefaultValue
		if res.Enabled {
			for _, vv := range v.Variables {
				if vv.ID == fv.ID {
					val = vv.Value
				}
			}
		}
		res.Variables[fv.Key] = typedValue(fv.Type, val)
	}
	res.Variables = normalizeVariables(res.Variables)
	return res
}

func typedValue(typ, s string) any {
	var v any = s
	var err error
	switch typ {
	case "boolean":
		v, err = strconv.ParseBool(s)
	case "integer":
		v, err = strconv.Atoi(s)
	case "double":
		v, err = strconv.ParseFloat(s, 64)
	}
	if err != nil {
		panic(fmt.Sprintf("generator wrote %s value %q", typ, s))
	}
	return v
}

// ---- profile store for our client -----------------------------------------

// ourProfiles is a map-backed ups.Service that counts calls, so the test can
// hold our client to one lookup and at most one save per call.
type ourProfiles struct {
	mu      sync.Mutex
	m       map[string]map[string]ups.Assignment
	lookups int
	saves   int
}

func newOurProfiles() *ourProfiles {
	return &ourProfiles{m: map[string]map[string]ups.Assignment{}}
}

func (s *ourProfiles) Lookup(_ context.Context, userID string) (ups.Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	p := ups.NewProfile(userID)
	maps.Copy(p.Assignments, s.m[userID])
	return p, nil
}

func (s *ourProfiles) Save(_ context.Context, p ups.Profile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves++
	if s.m[p.UserID] == nil {
		s.m[p.UserID] = map[string]ups.Assignment{}
	}
	maps.Copy(s.m[p.UserID], p.Assignments)
	return nil
}

func (s *ourProfiles) set(userID, expID, varID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[userID] == nil {
		s.m[userID] = map[string]ups.Assignment{}
	}
	s.m[userID][expID] = ups.Assignment{VariationID: varID}
}

func (s *ourProfiles) snapshot(userID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out map[string]string
	for exp, a := range s.m[userID] {
		if out == nil {
			out = map[string]string{}
		}
		out[exp] = a.VariationID
	}
	return out
}

func (s *ourProfiles) counts() (lookups, saves int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups, s.saves
}

func newOurClient(tb testing.TB, data []byte, profiles ups.Service) *decision.Client {
	tb.Helper()
	df, err := decision.ParseDatafile(data)
	if err != nil {
		tb.Fatalf("ParseDatafile: %v", err)
	}
	c, err := decision.NewClient(decision.Options{Datafile: df, Profiles: profiles})
	if err != nil {
		tb.Fatalf("NewClient: %v", err)
	}
	return c
}

func ourOptions(o decideOpts) []decision.Option {
	opts := []decision.Option{decision.DisableDecisionEvent}
	if o.ignoreUPS {
		opts = append(opts, decision.IgnoreUserProfileService)
	}
	if o.excludeVariables {
		opts = append(opts, decision.ExcludeVariables)
	}
	if o.enabledOnly {
		opts = append(opts, decision.EnabledFlagsOnly)
	}
	if o.includeReasons {
		opts = append(opts, decision.IncludeReasons)
	}
	return opts
}

func fromOurs(d decision.FlagDecision) flagResult {
	return flagResult{Enabled: d.Enabled, VariationKey: d.VariationKey, RuleKey: d.RuleKey, Variables: normalizeVariables(d.Variables.Map())}
}

func (u testUser) ours() decision.User { return decision.User{ID: u.ID, Attributes: u.Attrs} }

// oursForced is u with forced decisions.
func (u testUser) oursForced(forced []decision.ForcedDecision) decision.User {
	return decision.User{ID: u.ID, Attributes: u.Attrs, Forced: forced}
}

// ---- the comparison --------------------------------------------------------

type diffStats struct {
	datafiles, rounds, calls, decisions int
	// reasonsCompared counts decisions whose reasons were compared word
	// for word (INCLUDE_REASONS, the same decision on both sides);
	// reasonsSkipped those that were not, by cause.
	reasonsCompared int
	reasonsSkipped  map[string]int
	classified      map[string]int
	coverage        map[string]int
}

func newDiffStats() *diffStats {
	return &diffStats{classified: map[string]int{}, coverage: map[string]int{}, reasonsSkipped: map[string]int{}}
}

func (s *diffStats) report(t *testing.T) {
	t.Logf("compared %d decisions in %d calls (%d datafile rounds)", s.decisions, s.calls, s.rounds)
	t.Logf("compared the reasons of %d decisions word for word", s.reasonsCompared)
	for _, k := range sortedKeys(s.reasonsSkipped) {
		t.Logf("  reasons not compared: %-40s %6d", k, s.reasonsSkipped[k])
	}
	for _, k := range sortedKeys(s.classified) {
		t.Logf("  documented difference %-40s %6d", k, s.classified[k])
	}
	for _, k := range sortedKeys(s.coverage) {
		t.Logf("  coverage %-70s %6d", k, s.coverage[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

type diffCase struct {
	t        *testing.T
	seed     uint64
	r        *rand.Rand
	stats    *diffStats
	ours     *ourProfiles
	official *officialProfiles
	ctx      context.Context

	// per round
	about  string
	df     *genDatafile
	m      *model
	client *decision.Client
	oracle *oracle
	fails  int
}

func newDiffCase(t *testing.T, seed uint64, stats *diffStats) *diffCase {
	return &diffCase{
		t: t, seed: seed, stats: stats, ctx: context.Background(),
		r:    rand.New(rand.NewPCG(seed, 42)),
		ours: newOurProfiles(), official: newOfficialProfiles(),
	}
}

// run decides, for every user, every experiment by key and every flag, in a
// random order and through a random mix of Decide, DecideForKeys and
// DecideAll with random options.
func (c *diffCase) run(df *genDatafile, users []testUser, about string) {
	c.t.Helper()
	c.load(df, about)
	for _, u := range users {
		if c.t.Failed() && c.fails >= 5 {
			c.t.Fatalf("seed %d: stopping after %d failures", c.seed, c.fails)
		}
		switch c.r.IntN(4) {
		case 0, 1:
			c.experiments(u)
			c.flags(u)
		case 2:
			c.flags(u)
			c.experiments(u)
		default:
			c.flags(u)
		}
	}
}

// load starts a round on df: fresh clients on both sides, same stores.
func (c *diffCase) load(df *genDatafile, about string) {
	c.t.Helper()
	data := df.marshal()
	m, err := newModel(data)
	if err != nil {
		c.t.Fatalf("seed %d: model: %v", c.seed, err)
	}
	c.about, c.df, c.m = about, m.df, m
	c.client = newOurClient(c.t, data, c.ours)
	c.oracle = newOracle(c.t, data, c.official)
	c.stats.rounds++
}

func (c *diffCase) experiments(u testUser) {
	keys := slices.Clone(c.m.expKeys)
	c.r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	for _, key := range keys {
		c.experiment(u, key)
	}
}

func (c *diffCase) randomOpts(batch bool) decideOpts {
	return decideOpts{
		ignoreUPS:        c.r.Float64() < 0.12,
		excludeVariables: c.r.Float64() < 0.12,
		enabledOnly:      batch && c.r.Float64() < 0.25,
		includeReasons:   c.r.Float64() < 0.3,
		forced:           c.randomForced(),
	}
}

// randomForced returns forced decisions for a quarter of the calls: one
// to three, each for a random flag and, mostly, one of its experiments or
// delivery rules (sometimes a rule it does not have), naming one of the
// flag's variations or, sometimes, a key it does not have; some repeat
// a flag and rule with another key (the last wins).
func (c *diffCase) randomForced() []decision.ForcedDecision {
	if len(c.m.flagKeys) == 0 || c.r.Float64() >= 0.25 {
		return nil
	}
	var out []decision.ForcedDecision
	for range 1 + c.r.IntN(3) {
		f := c.m.flags[c.m.flagKeys[c.r.IntN(len(c.m.flagKeys))]]
		var rules []*mExperiment
		for _, id := range f.ExperimentIDs {
			if e := c.m.exps[id]; e != nil {
				rules = append(rules, e)
			}
		}
		rules = append(rules, c.m.rollouts[f.RolloutID]...)
		fd := decision.ForcedDecision{FlagKey: f.Key}
		switch x := c.r.Float64(); {
		case x < 0.3 || len(rules) == 0:
		case x < 0.95:
			fd.RuleKey = rules[c.r.IntN(len(rules))].Key
		default:
			fd.RuleKey = "no_such_rule"
		}
		var keys []string
		for _, e := range rules {
			for _, v := range e.Variations {
				keys = append(keys, v.Key)
			}
		}
		if len(keys) == 0 || c.r.Float64() < 0.15 {
			fd.VariationKey = "no_such_variation"
		} else {
			fd.VariationKey = keys[c.r.IntN(len(keys))]
		}
		out = append(out, fd)
		if c.r.Float64() < 0.1 && len(keys) > 0 {
			fd.VariationKey = keys[c.r.IntN(len(keys))]
			out = append(out, fd)
		}
	}
	return out
}

func (c *diffCase) flags(u testUser) {
	switch c.r.IntN(3) {
	case 0:
		for _, key := range c.m.flagKeys {
			c.flagCall("Decide", u, []string{key}, c.randomOpts(false))
		}
	case 1:
		var keys []string
		for _, k := range c.m.flagKeys {
			if c.r.IntN(2) == 0 {
				keys = append(keys, k)
			}
		}
		c.flagCall("DecideForKeys", u, keys, c.randomOpts(true))
	default:
		c.flagCall("DecideAll", u, c.m.flagKeys, c.randomOpts(true))
	}
}

// item is one decision inside a call, with what each side returned and
// what its model expects.
type item struct {
	kind, key           string
	ours, official      any
	wantOurs, wantOff   any
	savesOurs, savesOff map[string]string
	// replay re-runs the model for this decision under other rules or
	// against another profile snapshot, for classification.
	replay func(r rules, profile map[string]string) (any, map[string]string)
	// reasons, for flag decisions, compares the reasons of both sides;
	// check calls it when both made the same decision.
	reasons func()
}

type expResult struct{ VariationKey, VariationID string }

func (c *diffCase) experiment(u testUser, key string) {
	e := c.m.byKey[key]
	beforeOurs, beforeOff := c.ours.snapshot(u.ID), c.official.snapshot(u.ID)
	l0, s0 := c.ours.counts()
	d, err := c.client.DecideExperiment(c.ctx, u.ours(), key)
	l1, s1 := c.ours.counts()
	offKey := c.oracle.experiment(u, key)
	call := fmt.Sprintf("DecideExperiment(%q)", key)
	if err != nil {
		c.fail(call, u, "our client returned error: %v", err)
		return
	}
	if d.ExperimentKey != key || d.ExperimentID != e.ID {
		c.fail(call, u, "our decision names experiment %q/%q, want %q/%q", d.ExperimentKey, d.ExperimentID, key, e.ID)
	}
	replay := func(r rules, p map[string]string) (any, map[string]string) {
		o := c.m.decideExperiment(r, u, e, p, false)
		res, saves := expResult{}, map[string]string{}
		if o.v != nil {
			res = expResult{o.v.Key, o.v.ID}
		}
		if o.save {
			saves[e.ID] = o.v.ID
		}
		return res, saves
	}
	it := item{kind: "experiment", key: key, ours: expResult{d.VariationKey, d.VariationID}, replay: replay}
	it.official = expResult{VariationKey: offKey}
	if v := e.byKey[offKey]; v != nil {
		it.official = expResult{offKey, v.ID}
	}
	it.wantOurs, it.savesOurs = replay(crossRules, beforeOurs)
	it.wantOff, it.savesOff = replay(officialRules, beforeOff)

	o := c.m.decideExperiment(crossRules, u, e, beforeOurs, false)
	c.cover("experiment: " + o.via)
	if o.stale && o.save {
		c.cover("experiment: stale saved variation re-bucketed")
	}
	if o.via == "profile" {
		if fresh := c.m.decideExperiment(crossRules, u, e, nil, false); fresh.v != o.v {
			c.cover("experiment: saved variation served although fresh bucketing differs")
		}
	}
	c.check(call, u, decideOpts{}, []item{it}, beforeOurs, beforeOff, l1-l0, s1-s0)
}

func (c *diffCase) flagCall(api string, u testUser, keys []string, opts decideOpts) {
	beforeOurs, beforeOff := c.ours.snapshot(u.ID), c.official.snapshot(u.ID)
	l0, s0 := c.ours.counts()
	var ours, official map[string]flagResult
	oursReasons := map[string][]string{}
	var offReasons map[string][]string
	var err error
	call := fmt.Sprintf("%s(%q, %v)", api, keys, opts)
	user := u.oursForced(opts.forced)
	switch api {
	case "Decide":
		var d decision.FlagDecision
		d, err = c.client.Decide(c.ctx, user, keys[0], ourOptions(opts)...)
		if err == nil && d.FlagKey != keys[0] {
			c.fail(call, u, "our decision names flag %q", d.FlagKey)
		}
		ours = map[string]flagResult{keys[0]: fromOurs(d)}
		oursReasons[keys[0]] = d.Reasons
		off, offR := c.oracle.decide(u, keys[0], opts)
		official, offReasons = map[string]flagResult{keys[0]: off}, map[string][]string{keys[0]: offR}
	case "DecideForKeys":
		var ds map[string]decision.FlagDecision
		ds, err = c.client.DecideForKeys(c.ctx, user, keys, ourOptions(opts)...)
		ours = map[string]flagResult{}
		for k, d := range ds {
			ours[k], oursReasons[k] = fromOurs(d), d.Reasons
		}
		official, offReasons = c.oracle.decideForKeys(u, keys, opts)
	default:
		var ds map[string]decision.FlagDecision
		ds, err = c.client.DecideAll(c.ctx, user, ourOptions(opts)...)
		ours = map[string]flagResult{}
		for k, d := range ds {
			ours[k], oursReasons[k] = fromOurs(d), d.Reasons
		}
		official, offReasons = c.oracle.decideAll(u, opts)
	}
	l1, s1 := c.ours.counts()
	if err != nil {
		c.fail(call, u, "our client returned error: %v", err)
		return
	}
	var items []item
	for _, key := range keys {
		f := c.m.flags[key]
		replay := func(r rules, p map[string]string) (any, map[string]string) {
			o := c.m.decideFlag(r, u, f, p, opts)
			if opts.enabledOnly && !o.res.Enabled {
				return nil, o.saves
			}
			return o.res, o.saves
		}
		it := item{kind: "flag", key: key, replay: replay}
		if d, ok := ours[key]; ok {
			it.ours = d
		}
		if d, ok := official[key]; ok {
			it.official = d
		}
		it.wantOurs, it.savesOurs = replay(crossRules, beforeOurs)
		it.wantOff, it.savesOff = replay(officialRules, beforeOff)
		it.reasons = func() {
			if c.compareReasons(call, u, f, opts, oursReasons[key], offReasons[key], beforeOurs, beforeOff) {
				o := c.m.decideFlag(crossRules, u, f, beforeOurs, opts)
				c.cover("reasons compared, flag: " + o.path)
				if opts.ignoreUPS {
					c.cover("reasons compared, without profiles (IgnoreUserProfileService)")
				}
				if o.forcedInvalid {
					c.cover("reasons compared, forced variation not the flag's")
				}
				for _, eo := range o.exps {
					c.cover("reasons compared, flag experiment: " + eo.via)
				}
			}
		}
		items = append(items, it)

		o := c.m.decideFlag(crossRules, u, f, beforeOurs, opts)
		c.cover("flag: " + o.path)
		if o.forcedInvalid {
			c.cover("flag: forced variation not the flag's, ignored")
		}
		for _, eo := range o.exps {
			c.cover("flag experiment: " + eo.via)
			if eo.stale && eo.save {
				c.cover("experiment: stale saved variation re-bucketed")
			}
		}
	}
	for k := range ours {
		if !slices.Contains(keys, k) {
			c.fail(call, u, "our result has flag %q that was not asked for", k)
		}
	}
	c.check(call, u, opts, items, beforeOurs, beforeOff, l1-l0, s1-s0)
}

func (c *diffCase) cover(what string) { c.stats.coverage[what]++ }

// skipReasons counts reasons not compared because of cause, and among
// them those that are equal all the same.
func (c *diffCase) skipReasons(cause string, ours, official []string) {
	c.stats.reasonsSkipped[cause]++
	if slices.Equal(ours, official) {
		c.stats.reasonsSkipped[cause+" (equal all the same)"]++
	}
}

// sdkMessages are parts of each of the official Go SDK's decide reasons,
// counted in the reasons compared: a run must have compared every one.
var sdkMessages = []string{
	"is mapped to flag",
	"Invalid variation is mapped",
	"is whitelisted into variation",
	"was previously bucketed into variation \"",
	"but no matching variation was found",
	"collectively evaluated to true",
	"collectively evaluated to false",
	"does not meet conditions to be in experiment",
	"an error occurred while evaluating nested tree for audience ID",
	"invalid Condition matcher",
	"unable to evaluate condition of type",
	"Error computing bucketing ID",
	"does not meet conditions for targeting rule",
	"meets conditions for targeting rule \"Everyone Else\"",
	"Rollout with ID \"\" is not in the datafile.",
}

// compareReasons requires our reasons for flag f to be the official SDK's,
// word for word and in order, unless a documented difference reaches the
// flag's path: an experiment that is not running (the SDK decides it; we
// say it is not running), an audience or tree the two rule sets evaluate
// differently for u (the SDK's evaluator then reports another audience as
// null, or none), or profiles that differ already (carry-over). Those are
// counted, not compared. It reports whether it compared them.
func (c *diffCase) compareReasons(call string, u testUser, f *genFlag, opts decideOpts, ours, official []string, beforeOurs, beforeOff map[string]string) bool {
	var trees []*mTree
	for _, id := range f.ExperimentIDs {
		e := c.m.exps[id]
		if e == nil {
			continue
		}
		if e.Status != "Running" {
			c.skipReasons("experiment-status", ours, official)
			return false
		}
		if !opts.ignoreUPS && beforeOurs[e.ID] != beforeOff[e.ID] {
			c.skipReasons("carry-over", ours, official)
			return false
		}
		if e.tree != nil {
			trees = append(trees, e.tree)
		}
	}
	for _, rule := range c.m.rollouts[f.RolloutID] {
		if rule.tree != nil {
			trees = append(trees, rule.tree)
		}
	}
	for len(trees) > 0 {
		t := trees[len(trees)-1]
		trees = trees[:len(trees)-1]
		if c.m.eval(crossRules, t, u) != c.m.eval(officialRules, t, u) {
			c.skipReasons("audience evaluated differently", ours, official)
			return false
		}
		trees = append(trees, t.kids...)
		if a := c.m.audiences[t.audience]; t.audience != "" && a != nil {
			trees = append(trees, a)
		}
	}
	c.stats.reasonsCompared++
	for _, r := range official {
		for _, m := range sdkMessages {
			if strings.Contains(r, m) {
				c.cover("reasons compared, message: " + m)
			}
		}
	}
	if !slices.Equal(ours, official) {
		c.fail(call, u, "flag %q: reasons differ\n  ours:\n    %s\n  official:\n    %s%s", f.Key,
			strings.Join(ours, "\n    "), strings.Join(official, "\n    "), c.excerpt("flag", f.Key))
	}
	return true
}

// check verifies one call: each side's profile writes equal what its model
// predicts, our store is hit at most once each way, every answer equals its
// model's, and any difference between the two models is attributed.
func (c *diffCase) check(call string, u testUser, opts decideOpts, items []item, beforeOurs, beforeOff map[string]string, lookups, saves int) {
	c.stats.calls++
	c.stats.decisions += len(items)
	wantSavesOurs, wantSavesOff := map[string]string{}, map[string]string{}
	for _, it := range items {
		maps.Copy(wantSavesOurs, it.savesOurs)
		maps.Copy(wantSavesOff, it.savesOff)
	}
	if got := written(beforeOurs, c.ours.snapshot(u.ID)); !maps.Equal(got, wantSavesOurs) {
		c.fail(call, u, "our client wrote %v to the profile, want %v (profile before: %v)%s", got, wantSavesOurs, beforeOurs, c.excerpts(items))
	}
	if got := written(beforeOff, c.official.snapshot(u.ID)); !maps.Equal(got, wantSavesOff) {
		c.fail(call, u, "MODEL: official SDK wrote %v to the profile, model expects %v (profile before: %v)%s", got, wantSavesOff, beforeOff, c.excerpts(items))
	}
	switch {
	case opts.ignoreUPS && (lookups > 0 || saves > 0):
		c.fail(call, u, "IgnoreUserProfileService: our client made %d lookups and %d saves", lookups, saves)
	case lookups > 1 || saves > 1:
		c.fail(call, u, "our client made %d lookups and %d saves in one call, want at most one each", lookups, saves)
	case saves == 1 && len(wantSavesOurs) == 0:
		c.fail(call, u, "our client saved a profile although no assignment changed")
	}
	for _, it := range items {
		okOurs := reflect.DeepEqual(it.ours, it.wantOurs)
		okOff := reflect.DeepEqual(it.official, it.wantOff)
		switch {
		case !okOurs:
			c.fail(call, u, "%s %q: our client and the cross-SDK rules disagree\n  ours:     %v\n  expected: %v\n  official: %v\n  profile before: ours %v, official %v%s",
				it.kind, it.key, show(it.ours), show(it.wantOurs), show(it.official), beforeOurs, beforeOff, c.excerpt(it.kind, it.key))
		case !okOff:
			c.fail(call, u, "%s %q: MODEL does not reproduce the official SDK\n  official: %v\n  model:    %v\n  ours:     %v\n  profile before: ours %v, official %v%s",
				it.kind, it.key, show(it.official), show(it.wantOff), show(it.ours), beforeOurs, beforeOff, c.excerpt(it.kind, it.key))
		case reflect.DeepEqual(it.wantOurs, it.wantOff) && maps.Equal(it.savesOurs, it.savesOff):
			if it.reasons != nil && opts.includeReasons && it.ours != nil {
				it.reasons()
			}
		default:
			cats := c.classify(it, beforeOff)
			for _, cat := range cats {
				c.stats.classified[cat]++
			}
			if slices.Contains(cats, "unexplained") {
				c.fail(call, u, "%s %q: the sides differ for no documented reason\n  ours:     %v\n  official: %v%s", it.kind, it.key, show(it.ours), show(it.official), c.excerpt(it.kind, it.key))
			}
		}
	}
}

// classify names why the two models differ for it: replaying the cross-SDK
// rules against the official store separates earlier divergence of the
// stores from the rules themselves, then each rule is switched alone.
func (c *diffCase) classify(it item, beforeOff map[string]string) []string {
	same := func(a any, as map[string]string, b any, bs map[string]string) bool {
		return reflect.DeepEqual(a, b) && maps.Equal(as, bs)
	}
	var cats []string
	xr, xs := it.replay(crossRules, beforeOff)
	if !same(xr, xs, it.wantOurs, it.savesOurs) {
		cats = append(cats, "carry-over")
	}
	if !same(xr, xs, it.wantOff, it.savesOff) {
		n := len(cats)
		for _, sw := range ruleSwitches {
			r := crossRules
			sw.set(&r)
			if kr, ks := it.replay(r, beforeOff); !same(kr, ks, xr, xs) {
				cats = append(cats, sw.name)
			}
		}
		if len(cats) == n {
			cats = append(cats, "combined")
		}
	}
	if len(cats) == 0 {
		cats = append(cats, "unexplained")
	}
	return cats
}

func written(before, after map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range after {
		if before[k] != v {
			out[k] = v
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out[k] = "<deleted>"
		}
	}
	return out
}

func show(v any) string {
	if v == nil {
		return "<absent>"
	}
	return fmt.Sprint(v)
}

func (c *diffCase) fail(call string, u testUser, format string, args ...any) {
	c.t.Helper()
	c.fails++
	c.t.Errorf("seed %d, %s\nuser %v\ncall %s\n%s\nreproduce: go test ./decision/ -run 'TestDifferential$' -diff.seed=%d -diff.n=1 -v",
		c.seed, c.about, u, call, fmt.Sprintf(format, args...), c.seed)
}

func (c *diffCase) excerpts(items []item) string {
	var b strings.Builder
	for _, it := range items {
		b.WriteString(c.excerpt(it.kind, it.key))
	}
	return b.String()
}

// excerpt renders the parts of the datafile a decision reads: the
// experiment(s), their group, the rollout and the audiences involved.
func (c *diffCase) excerpt(kind, key string) string {
	df := c.df
	parts := map[string]any{}
	var exps []*genExperiment
	if kind == "flag" {
		f := c.m.flags[key]
		parts["flag"] = f
		for _, id := range f.ExperimentIDs {
			if e := c.m.exps[id]; e != nil {
				exps = append(exps, e.genExperiment)
			}
		}
		if r := df.rollout(f.RolloutID); r != nil {
			parts["rollout"] = r
			exps = append(exps, r.Experiments...)
		}
	} else {
		exps = append(exps, c.m.byKey[key].genExperiment)
		parts["experiment"] = c.m.byKey[key].genExperiment
	}
	if kind == "flag" {
		var fe []*genExperiment
		for _, id := range c.m.flags[key].ExperimentIDs {
			if e := c.m.exps[id]; e != nil {
				fe = append(fe, e.genExperiment)
			}
		}
		parts["experiments"] = fe
	}
	audIDs := map[string]bool{}
	var groups []*genGroup
	for _, e := range exps {
		for _, id := range e.AudienceIDs {
			audIDs[id] = true
		}
		collectStrings(e.AudienceConditions, audIDs)
		if g := df.groupOf(e.ID); g != nil && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	var gs []any
	for _, g := range groups {
		var members []string
		for _, e := range g.Experiments {
			members = append(members, e.ID)
		}
		gs = append(gs, map[string]any{"id": g.ID, "policy": g.Policy, "trafficAllocation": g.TrafficAllocation, "experiments(ids)": members})
	}
	if len(gs) > 0 {
		parts["groups"] = gs
	}
	var typed, legacy []genAudience
	for _, a := range df.TypedAudiences {
		if audIDs[a.ID] {
			typed = append(typed, a)
		}
	}
	for _, a := range df.Audiences {
		if audIDs[a.ID] {
			legacy = append(legacy, a)
		}
	}
	parts["typedAudiences"], parts["audiences"] = typed, legacy
	b, err := json.MarshalIndent(parts, "  ", "  ")
	if err != nil {
		return fmt.Sprintf("\n  (excerpt: %v)", err)
	}
	return "\n  datafile excerpt:\n  " + string(b)
}

func collectStrings(v any, into map[string]bool) {
	switch v := v.(type) {
	case string:
		into[v] = true
	case []any:
		for _, x := range v {
			collectStrings(x, into)
		}
	}
}

// TestStaleProfileRebucketed: a user saved into a variation that a later
// datafile no longer has is bucketed again, identically on both sides, and the
// new variation replaces the stale entry in both stores.
func TestStaleProfileRebucketed(t *testing.T) {
	df := oneExperiment(nil, "Running", []genRange{{"9000002", 3000}, {"9000003", 6000}, {"9000004", 10000}})
	df.Experiments[0].Variations = append(df.Experiments[0].Variations, &genVariation{ID: "9000004", Key: "c", Variables: []genVarValue{}})
	var users []testUser
	for i := range 300 {
		users = append(users, testUser{ID: fmt.Sprintf("stale-%d", i)})
	}
	stats := newDiffStats()
	c := newDiffCase(t, 0, stats)
	c.load(df, "variations a, b, c")
	for _, u := range users {
		c.experiment(u, "exp")
	}
	var onB []testUser
	for _, u := range users {
		if c.ours.snapshot(u.ID)["9000001"] == "9000003" {
			onB = append(onB, u)
		}
	}
	if len(onB) < 50 {
		t.Fatalf("only %d of %d users bucketed into b", len(onB), len(users))
	}

	df2 := df.clone()
	e := df2.Experiments[0]
	e.Variations = slices.Delete(e.Variations, 1, 2)
	e.TrafficAllocation = []genRange{{"9000002", 5000}, {"9000004", 10000}}
	c.load(df2, "variation b removed")
	for _, u := range users {
		c.experiment(u, "exp")
	}
	for _, u := range onB {
		ours, official := c.ours.snapshot(u.ID)["9000001"], c.official.snapshot(u.ID)["9000001"]
		if ours == "9000003" || ours == "" || ours != official {
			t.Errorf("user %s was on b: now ours %q, official %q", u.ID, ours, official)
		}
	}
	if got := stats.coverage["experiment: stale saved variation re-bucketed"]; got != len(onB) {
		t.Errorf("%d stale entries re-bucketed, want %d", got, len(onB))
	}
}

// ---- documented differences, one by one ------------------------------------

// TestDocumentedDifferences pins each documented difference on a minimal
// datafile: our answer, the official SDK's, and that the classifier used by
// TestDifferential names it.
func TestDocumentedDifferences(t *testing.T) {
	leaf := func(name, match string, value any) map[string]any {
		return map[string]any{"type": "custom_attribute", "name": name, "match": match, "value": value}
	}
	f32User, f32End := float32BucketBoundary("9000001")
	tests := []struct {
		name         string
		conditions   any
		status       string
		traffic      []genRange
		user         testUser
		saved        string // variation key already in both profiles
		wantOurs     string
		wantOfficial string
		wantCategory string
	}{
		{
			name:         "not(and(null, false))",
			conditions:   []any{"not", []any{"and", leaf("missing", "exact", "x"), leaf("country", "exact", "zz")}},
			user:         testUser{ID: "u1", Attrs: map[string]any{"country": "us"}},
			wantOurs:     "a",
			wantOfficial: "",
			wantCategory: "and-under-not",
		},
		{
			name:         "paused experiment",
			status:       "Paused",
			user:         testUser{ID: "u1"},
			wantOurs:     "",
			wantOfficial: "a",
			wantCategory: "experiment-status",
		},
		{
			name:         "paused experiment with a saved variation",
			status:       "Paused",
			traffic:      []genRange{{"", 10000}},
			user:         testUser{ID: "u1"},
			saved:        "b",
			wantOurs:     "",
			wantOfficial: "b",
			wantCategory: "experiment-status",
		},
		{
			name:         "number beyond 2^53",
			conditions:   []any{"and", leaf("n", "gt", 1)},
			user:         testUser{ID: "u1", Attrs: map[string]any{"n": 1e16}},
			wantOurs:     "",
			wantOfficial: "a",
			wantCategory: "big-numbers",
		},
		{
			name:         "infinite number",
			conditions:   []any{"and", leaf("n", "gt", 1)},
			user:         testUser{ID: "u1", Attrs: map[string]any{"n": math.Inf(1)}},
			wantOurs:     "",
			wantOfficial: "a",
			wantCategory: "big-numbers",
		},
		{
			name:         "float32 bucket one higher at a range end",
			traffic:      []genRange{{"9000002", f32End}, {"9000003", 10000}},
			user:         testUser{ID: f32User},
			wantOurs:     "a",
			wantOfficial: "b",
			wantCategory: "float32-bucketing",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			df := oneExperiment(tc.conditions, cmp.Or(tc.status, "Running"), tc.traffic)
			data := df.marshal()
			ours, official := newOurProfiles(), newOfficialProfiles()
			if tc.saved != "" {
				id := map[string]string{"a": "9000002", "b": "9000003"}[tc.saved]
				ours.set(tc.user.ID, "9000001", id)
				official.m[tc.user.ID] = map[string]string{"9000001": id}
			}
			beforeOurs, beforeOff := ours.snapshot(tc.user.ID), official.snapshot(tc.user.ID)
			d, err := newOurClient(t, data, ours).DecideExperiment(context.Background(), tc.user.ours(), "exp")
			if err != nil {
				t.Fatal(err)
			}
			gotOff := newOracle(t, data, official).experiment(tc.user, "exp")
			if d.VariationKey != tc.wantOurs || gotOff != tc.wantOfficial {
				t.Errorf("user %v: ours %q, official %q; want ours %q, official %q", tc.user, d.VariationKey, gotOff, tc.wantOurs, tc.wantOfficial)
			}
			m, err := newModel(data)
			if err != nil {
				t.Fatal(err)
			}
			c := &diffCase{m: m}
			e := m.byKey["exp"]
			replay := func(r rules, p map[string]string) (any, map[string]string) {
				o := m.decideExperiment(r, tc.user, e, p, false)
				if o.v == nil {
					return "", nil
				}
				return o.v.Key, nil
			}
			it := item{replay: replay}
			it.wantOurs, _ = replay(crossRules, beforeOurs)
			it.wantOff, _ = replay(officialRules, beforeOff)
			if it.wantOurs != tc.wantOurs || it.wantOff != tc.wantOfficial {
				t.Errorf("model: ours %q, official %q", it.wantOurs, it.wantOff)
			}
			if got := c.classify(it, beforeOff); !slices.Equal(got, []string{tc.wantCategory}) {
				t.Errorf("classified as %v, want [%s]", got, tc.wantCategory)
			}
		})
	}
}

// oneExperiment is a datafile with one experiment "exp" (ID 9000001,
// variations a=9000002 and b=9000003) and, if conditions is set, one typed
// audience (ID 8000001) guarding it.
func oneExperiment(conditions any, status string, traffic []genRange) *genDatafile {
	if traffic == nil {
		traffic = []genRange{{"9000002", 10000}}
	}
	e := &genExperiment{
		ID: "9000001", Key: "exp", LayerID: "9000000", Status: status,
		Variations: []*genVariation{
			{ID: "9000002", Key: "a", Variables: []genVarValue{}},
			{ID: "9000003", Key: "b", Variables: []genVarValue{}},
		},
		TrafficAllocation: traffic,
		AudienceIDs:       []string{},
		ForcedVariations:  map[string]string{},
	}
	df := &genDatafile{
		Version: "4", AccountID: "1", ProjectID: "2", Revision: "1",
		Attributes: []genAttribute{}, Audiences: []genAudience{}, TypedAudiences: []genAudience{},
		Experiments: []*genExperiment{e}, Groups: []*genGroup{}, FeatureFlags: []*genFlag{},
		Rollouts: []*genRollout{}, Events: []genEvent{}, Integrations: []any{},
	}
	if conditions != nil {
		df.TypedAudiences = []genAudience{{ID: "8000001", Name: "a", Conditions: conditions}}
		e.AudienceIDs = []string{"8000001"}
	}
	return df
}

// float32BucketBoundary finds a user whose bucket for experiment expID is one
// higher when computed in float32, and returns that float32 bucket: a range
// ending there holds the user for us and not for the official SDK.
func float32BucketBoundary(expID string) (userID string, end int) {
	for i := 0; ; i++ {
		id := "u" + strconv.Itoa(i)
		if b32, b64 := bucketValue(id+expID, true), bucketValue(id+expID, false); b32 == b64+1 {
			return id, b32
		}
	}
}
