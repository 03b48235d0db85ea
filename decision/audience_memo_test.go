package decision

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"testing"
)

// sharedAudienceID is the audience sharedAudienceDatafile gives every
// experiment and rollout rule.
const sharedAudienceID = "900"

// sharedAudienceDatafile generates a datafile of n flags, each with an
// experiment and a rollout whose first rule targets the same audience as
// the experiment: one "or" of leaves conditions that a user with plan
// "plan-<leaves-1>" meets only at its last, so every evaluation reads all
// of them. Even flags' experiments take every user in their audience;
// odd ones take none (no traffic), so those users go on to the rollout
// and its rule evaluates the audience again: a DecideAll evaluates it
// n + n/2 times unless the call remembers it. unused audiences come
// first in the list, so the shared one is numbered after them.
func sharedAudienceDatafile(tb testing.TB, n, leaves, unused int) *Datafile {
	tb.Helper()
	audiences := []any{}
	for i := range unused {
		audiences = append(audiences, map[string]any{"id": fmt.Sprint(i + 1), "name": "unused", "conditions": []any{"or", map[string]any{"type": "custom_attribute", "name": "plan", "value": "x"}}})
	}
	or := []any{"or"}
	for i := range leaves {
		or = append(or, map[string]any{"type": "custom_attribute", "name": "plan", "match": "exact", "value": fmt.Sprintf("plan-%d", i)})
	}
	var experiments, flags, rollouts []any
	for i := range n {
		expID, ruleID, lastID := fmt.Sprint(10000+i), fmt.Sprint(20000+i), fmt.Sprintf("default-%d", 30000+i)
		traffic := []any{}
		if i%2 == 0 {
			traffic = []any{map[string]any{"entityId": expID + "1", "endOfRange": 10000}}
		}
		experiments = append(experiments, map[string]any{
			"id": expID, "key": "exp_" + expID, "layerId": "1", "status": "Running",
			"audienceIds": []any{sharedAudienceID}, "forcedVariations": map[string]any{},
			"variations":        []any{map[string]any{"id": expID + "1", "key": "a"}, map[string]any{"id": expID + "2", "key": "b"}},
			"trafficAllocation": traffic,
		})
		rule := func(id, key string, audiences []any) any {
			return map[string]any{
				"id": id, "key": key, "layerId": "2", "status": "Running", "audienceIds": audiences,
				"variations":        []any{map[string]any{"id": id + "1", "key": "on", "featureEnabled": true}},
				"trafficAllocation": []any{map[string]any{"entityId": id + "1", "endOfRange": 10000}},
			}
		}
		rollouts = append(rollouts, map[string]any{"id": fmt.Sprint(40000 + i), "experiments": []any{
			rule(ruleID, "rule_"+ruleID, []any{sharedAudienceID}),
			rule(lastID, lastID, []any{}),
		}})
		flags = append(flags, map[string]any{
			"id": fmt.Sprint(50000 + i), "key": fmt.Sprintf("flag_%d", i), "rolloutId": fmt.Sprint(40000 + i),
			"experimentIds": []any{expID}, "variables": []any{},
		})
	}
	raw, err := json.Marshal(map[string]any{
		"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
		"attributes":     []any{map[string]any{"id": "1", "key": "plan"}},
		"audiences":      []any{},
		"typedAudiences": append(audiences, map[string]any{"id": sharedAudienceID, "name": "big", "conditions": or}),
		"experiments":    experiments, "groups": []any{}, "featureFlags": flags, "rollouts": rollouts, "events": []any{},
	})
	if err != nil {
		tb.Fatal(err)
	}
	df, err := ParseDatafile(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return df
}

// countAudienceEvals installs audienceEvalHook for the test: the function
// it returns gives the evaluations per audience ID since its last call.
func countAudienceEvals(tb testing.TB) func() map[string]int {
	var (
		mu     sync.Mutex
		counts = map[string]int{}
	)
	hook := func(a *audience) {
		mu.Lock()
		counts[a.id]++
		mu.Unlock()
	}
	audienceEvalHook.Store(&hook)
	tb.Cleanup(func() { audienceEvalHook.Store(nil) })
	return func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		out := maps.Clone(counts)
		clear(counts)
		return out
	}
}

// TestSharedAudienceIsEvaluatedOncePerCall: an audience shared by every
// experiment and rollout rule of a datafile is evaluated once per decision
// call, however many of them the call decides (and with reasons, which
// report each audience's result), and the decisions are those of
// evaluating it each time.
func TestSharedAudienceIsEvaluatedOncePerCall(t *testing.T) {
	for _, unused := range []int{0, inlineAudiences + 10} {
		t.Run(fmt.Sprintf("%d audiences", unused+1), func(t *testing.T) { testSharedAudience(t, unused) })
	}
}

func testSharedAudience(t *testing.T, unused int) {
	ctx := context.Background()
	const flags, leaves = 200, 1000
	df := sharedAudienceDatafile(t, flags, leaves, unused)
	if got := df.audiences; got != int32(unused+1) {
		t.Fatalf("%d audiences numbered, want %d", got, unused+1)
	}
	c, err := NewClient(Options{Datafile: df})
	if err != nil {
		t.Fatal(err)
	}
	in := User{ID: "u1", Attributes: map[string]any{"plan": fmt.Sprintf("plan-%d", leaves-1)}}
	out := User{ID: "u2", Attributes: map[string]any{"plan": "none"}}
	evals := countAudienceEvals(t)
	keys := make([]string, 10)
	for i := range keys {
		keys[i] = fmt.Sprintf("flag_%d", i)
	}
	for _, tc := range []struct {
		name   string
		decide func(u User) (map[string]FlagDecision, error)
	}{
		{"DecideAll", func(u User) (map[string]FlagDecision, error) { return c.DecideAll(ctx, u) }},
		{"DecideAll with reasons", func(u User) (map[string]FlagDecision, error) { return c.DecideAll(ctx, u, IncludeReasons) }},
		{"DecideForKeys", func(u User) (map[string]FlagDecision, error) { return c.DecideForKeys(ctx, u, keys) }},
		{"Decide", func(u User) (map[string]FlagDecision, error) {
			d, err := c.Decide(ctx, u, "flag_1")
			return map[string]FlagDecision{"flag_1": d}, err
		}},
	} {
		for _, u := range []User{in, out} {
			ds, err := tc.decide(u)
			if err != nil {
				t.Fatal(err)
			}
			if got := evals(); got[sharedAudienceID] != 1 || len(got) != 1 {
				t.Errorf("%s for %s: audience evaluations %v, want %s once", tc.name, u.ID, got, sharedAudienceID)
			}
			for key, d := range ds {
				var i int
				fmt.Sscanf(key, "flag_%d", &i)
				want := "off"
				switch {
				case u.ID == out.ID:
					want = "everyone else"
				case i%2 == 0:
					want = "a"
				default:
					want = "on"
				}
				got := d.VariationKey
				if d.EveryoneElse {
					got = "everyone else"
				}
				if got != want {
					t.Errorf("%s for %s: %s = %q (rule %q), want %q", tc.name, u.ID, key, got, d.RuleKey, want)
				}
			}
		}
	}
	// Calls do not share results: each starts afresh (a pooled slice
	// comes back cleared), and a decision remembering nothing allocates
	// nothing either way.
	audienceEvalHook.Store(nil)
	if n := testing.AllocsPerRun(100, func() { _, _ = c.Decide(ctx, in, "flag_1") }); n != 0 {
		t.Errorf("Decide: %v allocs, want 0", n)
	}
	evals = countAudienceEvals(t)
	for range 3 {
		if d, _ := c.Decide(ctx, out, "flag_2"); !d.EveryoneElse {
			t.Fatalf("Decide for %s after others' calls = %+v, want everyone else", out.ID, d)
		}
	}
	if got := evals(); got[sharedAudienceID] != 3 {
		t.Errorf("3 calls evaluated the audience %d times, want once each", got[sharedAudienceID])
	}
}

// BenchmarkSharedAudience decides every flag of a datafile whose 300
// experiments and rules share one audience of 1,000 conditions (a user
// meeting the last one), and one flag of it.
func BenchmarkSharedAudience(b *testing.B) {
	ctx := context.Background()
	const flags, leaves = 200, 1000
	c, err := NewClient(Options{Datafile: sharedAudienceDatafile(b, flags, leaves, 0)})
	if err != nil {
		b.Fatal(err)
	}
	u := User{ID: "u1", Attributes: map[string]any{"plan": fmt.Sprintf("plan-%d", leaves-1)}}
	b.Run("DecideAll", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.DecideAll(ctx, u); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decide", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Decide(ctx, u, "flag_1"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
