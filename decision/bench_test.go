package decision_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	optclient "github.com/optimizely/go-sdk/v2/pkg/client"
	optdecide "github.com/optimizely/go-sdk/v2/pkg/decide"
	optentities "github.com/optimizely/go-sdk/v2/pkg/entities"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// Ours against the official Go SDK on the same datafile, users and warm
// profile stores. Run them together so both see the same machine:
//
//	go test -run '^$' -bench . -benchmem -count 5 ./decision/
const (
	benchDatafilePath = "testdata/bench/datafile_100_flags.json"
	benchExperiment   = "ab_checkout"
	benchFlag         = "flag_002" // backed by experiment flag_002_exp
	benchUsers        = 1000
)

var updateBench = flag.Bool("bench.update", false, "rewrite "+benchDatafilePath+" from benchDatafile()")

// TestBenchDatafile keeps the committed benchmark datafile in step with the
// builder below.
func TestBenchDatafile(t *testing.T) {
	want := benchDatafile().marshalIndent()
	if *updateBench {
		if err := os.WriteFile(benchDatafilePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(benchDatafilePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./decision/ -run TestBenchDatafile -bench.update", benchDatafilePath)
	}
}

func (df *genDatafile) marshalIndent() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(df); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// benchDatafile is a realistic project: 100 flags, each with a rollout of two
// targeted rules and "Everyone Else"; every other flag also runs an A/B test
// (a tenth of them in mutual-exclusion groups); one plain A/B test. Audiences
// are typed, each shadowed by its legacy dummy as the web app writes them.
func benchDatafile() *genDatafile {
	next := 20000000
	id := func() string { next++; return strconv.Itoa(next) }
	// Audiences nest as the web app writes them: ["and", ["or", ["or", leaf]]].
	leaf := func(name, match string, value any) []any {
		return []any{"or", map[string]any{"type": "custom_attribute", "name": name, "match": match, "value": value}}
	}
	df := &genDatafile{
		Version: "4", AccountID: "10000001", ProjectID: "10000002", Revision: "42",
		AnonymizeIP: true, SendFlagDecisions: true,
		Experiments: []*genExperiment{}, Groups: []*genGroup{}, Events: []genEvent{}, Integrations: []any{},
	}
	for _, k := range []string{"country", "plan", "age", "beta", "app_version"} {
		df.Attributes = append(df.Attributes, genAttribute{ID: id(), Key: k})
	}
	audience := func(name string, conditions []any) string {
		aid := id()
		df.TypedAudiences = append(df.TypedAudiences, genAudience{ID: aid, Name: name, Conditions: conditions})
		df.Audiences = append(df.Audiences, genAudience{ID: aid, Name: name, Conditions: mustJSONString(
			[]any{"or", map[string]any{"type": "custom_attribute", "name": "$opt_dummy_attribute", "value": "$opt_dummy_value"}})})
		return aid
	}
	english := audience("english", []any{"and", []any{"or", leaf("country", "exact", "us"), leaf("country", "exact", "uk")}})
	adults := audience("adults", []any{"and", []any{"or", leaf("age", "ge", 18)}})
	pro := audience("pro plans", []any{"and", []any{"or", leaf("plan", "substring", "pro")}})
	newApp := audience("new app", []any{"and", []any{"or", leaf("app_version", "semver_ge", "1.2.0")}})
	beta := audience("beta", []any{"and", []any{"or", leaf("beta", "exact", true)}})

	experiment := func(key string, nVar int, conditions []any) *genExperiment {
		e := &genExperiment{ID: id(), Key: key, LayerID: id(), Status: "Running", AudienceIDs: []string{}, AudienceConditions: conditions, ForcedVariations: map[string]string{}}
		for v := range nVar {
			e.Variations = append(e.Variations, &genVariation{ID: id(), Key: fmt.Sprintf("v%d", v), FeatureEnabled: v > 0, Variables: []genVarValue{}})
			e.TrafficAllocation = append(e.TrafficAllocation, genRange{EntityID: e.Variations[v].ID, EndOfRange: 10000 * (v + 1) / nVar})
		}
		for _, c := range conditions[1:] {
			e.AudienceIDs = append(e.AudienceIDs, c.(string))
		}
		return e
	}
	ab := experiment(benchExperiment, 3, []any{"and", english, newApp})
	ab.ForcedVariations = map[string]string{"bench-user-0007": "v2", "qa-1": "v0"}
	df.Experiments = append(df.Experiments, ab)

	groups := []*genGroup{{ID: id(), Policy: "random"}, {ID: id(), Policy: "random"}}
	df.Groups = groups
	for i := range 100 {
		key := fmt.Sprintf("flag_%03d", i)
		f := &genFlag{ID: id(), Key: key, ExperimentIDs: []string{}}
		f.Variables = []genVariable{
			{ID: id(), Key: "enabled_banner", Type: "boolean", DefaultValue: "false"},
			{ID: id(), Key: "max_items", Type: "integer", DefaultValue: "10"},
			{ID: id(), Key: "discount", Type: "double", DefaultValue: "0.0"},
			{ID: id(), Key: "headline", Type: "string", DefaultValue: "Welcome"},
		}
		values := func(v *genVariation, n int) {
			v.Variables = []genVarValue{
				{ID: f.Variables[0].ID, Value: "true"},
				{ID: f.Variables[1].ID, Value: strconv.Itoa(10 + n)},
				{ID: f.Variables[2].ID, Value: fmt.Sprintf("0.%d5", n)},
				{ID: f.Variables[3].ID, Value: fmt.Sprintf("Hello %d", n)},
			}
		}
		if i%2 == 0 {
			e := experiment(key+"_exp", 2+i%3, []any{"or", english, adults})
			for n, v := range e.Variations {
				values(v, n)
			}
			if i%10 == 0 {
				g := groups[(i/10)%2]
				g.Experiments = append(g.Experiments, e)
			} else {
				df.Experiments = append(df.Experiments, e)
			}
			f.ExperimentIDs = append(f.ExperimentIDs, e.ID)
		}
		r := &genRollout{ID: id()}
		rule := func(key string, conditions []any, end int) *genExperiment {
			e := &genExperiment{ID: id(), Key: key, LayerID: r.ID, Status: "Running", AudienceIDs: []string{}, AudienceConditions: conditions, ForcedVariations: map[string]string{}}
			v := &genVariation{ID: id(), Key: "on", FeatureEnabled: true}
			values(v, 9)
			e.Variations = []*genVariation{v}
			e.TrafficAllocation = []genRange{{EntityID: v.ID, EndOfRange: end}}
			if len(conditions) > 0 {
				for _, c := range conditions[1:] {
					e.AudienceIDs = append(e.AudienceIDs, c.(string))
				}
			}
			return e
		}
		r.Experiments = []*genExperiment{
			rule(key+"_beta", []any{"or", beta}, 10000),
			rule(key+"_pro", []any{"and", pro, adults}, 5000),
			rule(key+"_everyone_else", []any{}, 2000),
		}
		f.RolloutID = r.ID
		df.Rollouts = append(df.Rollouts, r)
		df.FeatureFlags = append(df.FeatureFlags, f)
	}
	for _, g := range groups {
		for n, e := range g.Experiments {
			g.TrafficAllocation = append(g.TrafficAllocation, genRange{EntityID: e.ID, EndOfRange: 10000 * (n + 1) / len(g.Experiments)})
		}
	}
	return df
}

func benchUserPool() []testUser {
	r := rand.New(rand.NewPCG(7, 7))
	users := make([]testUser, benchUsers)
	for i := range users {
		users[i] = testUser{
			ID: fmt.Sprintf("bench-user-%04d", i),
			Attrs: map[string]any{
				"country":     pick2(r, "us", "uk", "fr", "de"),
				"plan":        pick2(r, "free", "pro", "enterprise"),
				"age":         15 + r.IntN(55),
				"beta":        r.IntN(10) == 0,
				"app_version": pick2(r, "1.0.0", "1.2.0", "1.3.5", "2.0.0"),
			},
		}
	}
	return users
}

func pick2(r *rand.Rand, xs ...string) string { return xs[r.IntN(len(xs))] }

// benchEnv holds both clients with stores warmed by a first pass over every
// user, so the timed loops only read profiles.
type benchEnv struct {
	ours          *decision.Client
	official      *optclient.OptimizelyClient
	oursStore     *benchMemory
	officialStore *officialProfiles
	users         []decision.User
	officialUsers []optentities.UserContext
	officialCtxs  []optclient.OptimizelyUserContext
}

var (
	oursOpts     = []decision.Option{decision.DisableDecisionEvent}
	officialOpts = []optdecide.OptimizelyDecideOptions{optdecide.DisableDecisionEvent}
)

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	data, err := os.ReadFile(benchDatafilePath)
	if err != nil {
		b.Fatal(err)
	}
	mem, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	env := &benchEnv{oursStore: &benchMemory{Memory: mem}, officialStore: newOfficialProfiles()}
	env.ours = newOurClient(b, data, env.oursStore)
	env.official = newOracle(b, data, env.officialStore).c
	ctx := context.Background()
	for _, u := range benchUserPool() {
		env.users = append(env.users, u.ours())
		env.officialUsers = append(env.officialUsers, optentities.UserContext{ID: u.ID, Attributes: u.Attrs})
		uc := env.official.CreateUserContext(u.ID, u.Attrs)
		env.officialCtxs = append(env.officialCtxs, uc)

		ours, err := env.ours.DecideAll(ctx, u.ours(), oursOpts...)
		if err != nil {
			b.Fatal(err)
		}
		official := uc.DecideAll(officialOpts)
		for k, d := range official {
			if got, want := fromOurs(ours[k]).String(), fromOfficial(d).String(); got != want {
				b.Fatalf("user %s flag %s: ours %s, official %s", u.ID, k, got, want)
			}
		}
		oe, err := env.ours.DecideExperiment(ctx, u.ours(), benchExperiment)
		if err != nil {
			b.Fatal(err)
		}
		if ov, _ := env.official.GetVariation(benchExperiment, env.officialUsers[len(env.officialUsers)-1]); ov != oe.VariationKey {
			b.Fatalf("user %s %s: ours %q, official %q", u.ID, benchExperiment, oe.VariationKey, ov)
		}
	}
	return env
}

// timed runs a sub-benchmark for each side and fails it if the loop wrote to
// a profile store, since the point is a warm store.
func (env *benchEnv) timed(b *testing.B, ours, official func(i int)) {
	run := func(name string, saves func() int, f func(int)) {
		b.Run(name, func(b *testing.B) {
			before := saves()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f(i % benchUsers)
				i++
			}
			if saves() != before {
				b.Fatalf("%d profile saves in the timed loop", saves()-before)
			}
		})
	}
	run("ours", func() int { return int(env.oursStore.saves.Load()) }, ours)
	run("official", func() int { _, s := env.officialStore.counts(); return s }, official)
}

// benchMemory is the product's in-memory store (ups.Memory) counting saves,
// so the benchmark measures ours with the store users actually get.
type benchMemory struct {
	*ups.Memory
	saves atomic.Int64
}

func (m *benchMemory) Save(ctx context.Context, p ups.Profile) error {
	m.saves.Add(1)
	return m.Memory.Save(ctx, p)
}

func BenchmarkExperiment(b *testing.B) {
	env := newBenchEnv(b)
	ctx := context.Background()
	env.timed(b, func(i int) {
		if _, err := env.ours.DecideExperiment(ctx, env.users[i], benchExperiment); err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		_, _ = env.official.GetVariation(benchExperiment, env.officialUsers[i])
	})
}

func BenchmarkFlag(b *testing.B) {
	env := newBenchEnv(b)
	ctx := context.Background()
	env.timed(b, func(i int) {
		if _, err := env.ours.Decide(ctx, env.users[i], benchFlag, oursOpts...); err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		env.officialCtxs[i].Decide(benchFlag, officialOpts)
	})
}

func BenchmarkDecideAll(b *testing.B) {
	env := newBenchEnv(b)
	ctx := context.Background()
	env.timed(b, func(i int) {
		if _, err := env.ours.DecideAll(ctx, env.users[i], oursOpts...); err != nil {
			b.Fatal(err)
		}
	}, func(i int) {
		env.officialCtxs[i].DecideAll(officialOpts)
	})
}
