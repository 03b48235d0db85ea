package server

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestDecideForcedDecisions: a decide body's forcedDecisions are applied
// as Agent applies them (the official Go SDK's SetForcedDecision), with
// the SDK's reasons passed on unchanged, and a forced variation neither
// saved nor replacing the user's sticky assignment. The decision
// package's differential test compares the same against the SDK itself.
func TestDecideForcedDecisions(t *testing.T) {
	s := newTestService(t, v1)
	decide := func(body string) map[string]any {
		t.Helper()
		r := s.do(t, "POST", "/v1/decide?keys=new_search", body)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", body, r.status, r.body)
		}
		return r.json(t).(map[string]any)
	}
	reasons := func(d map[string]any) []string {
		var out []string
		for _, r := range d["reasons"].([]any) {
			out = append(out, r.(string))
		}
		return out
	}
	user := `"userId":"forced-user","decideOptions":["INCLUDE_REASONS"]`
	first := decide(`{` + user + `}`)
	sticky := first["variationKey"].(string)
	other := map[string]string{"classic": "semantic", "semantic": "classic"}[sticky]
	if other == "" || first["ruleKey"] != "search_experiment" {
		t.Fatalf("first decision: %v", first)
	}
	saved := func() string {
		t.Helper()
		p, err := s.store.Lookup(context.Background(), "forced-user")
		if err != nil {
			t.Fatal(err)
		}
		return p.Assignments["3003"].VariationID
	}
	stickyID := saved()
	if stickyID == "" {
		t.Fatal("the first decision saved nothing")
	}

	tests := []struct {
		name, forced string
		variation    string
		rule         string
		enabled      bool
		reasons      []string
	}{
		{"the experiment forced to the other variation",
			`[{"flagKey":"new_search","ruleKey":"search_experiment","variationKey":"` + other + `"}]`,
			other, "search_experiment", true,
			[]string{"Variation (" + other + ") is mapped to flag (new_search), rule (search_experiment) and user (forced-user) in the forced decision map."}},
		{"the flag forced to the delivery rule's variation: no rule",
			`[{"flagKey":"new_search","variationKey":"off"}]`,
			"off", "", false,
			[]string{"Variation (off) is mapped to flag (new_search) and user (forced-user) in the forced decision map."}},
		{"the delivery rule forced: the experiment decides first",
			`[{"flagKey":"new_search","ruleKey":"everyone_else_search","variationKey":"off"}]`,
			sticky, "search_experiment", true,
			[]string{`User "forced-user" was previously bucketed into variation "` + sticky + `" of experiment "search_experiment".`}},
		{"a variation the flag does not have is ignored, with the SDK's reason",
			`[{"flagKey":"new_search","ruleKey":"search_experiment","variationKey":"nope"}]`,
			sticky, "search_experiment", true,
			[]string{
				"Invalid variation is mapped to flag (new_search), rule (search_experiment) and user (forced-user) in the forced decision map.",
				`User "forced-user" was previously bucketed into variation "` + sticky + `" of experiment "search_experiment".`,
			}},
		{"the last of two entries for one rule wins",
			`[{"flagKey":"new_search","ruleKey":"search_experiment","variationKey":"nope"},{"flagKey":"new_search","ruleKey":"search_experiment","variationKey":"` + other + `"}]`,
			other, "search_experiment", true,
			[]string{"Variation (" + other + ") is mapped to flag (new_search), rule (search_experiment) and user (forced-user) in the forced decision map."}},
		{"entries without flagKey or for other flags change nothing",
			`[{"variationKey":"` + other + `"},{"flagKey":"dark_mode","variationKey":"on"},null]`,
			sticky, "search_experiment", true,
			[]string{`User "forced-user" was previously bucketed into variation "` + sticky + `" of experiment "search_experiment".`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(`{` + user + `,"forcedDecisions":` + tt.forced + `}`)
			if d["variationKey"] != tt.variation || d["ruleKey"] != tt.rule || d["enabled"] != tt.enabled {
				t.Errorf("got variation %v, rule %v, enabled %v; want %q, %q, %v", d["variationKey"], d["ruleKey"], d["enabled"], tt.variation, tt.rule, tt.enabled)
			}
			if got := reasons(d); !slices.Equal(got, tt.reasons) {
				t.Errorf("reasons:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.reasons, "\n"))
			}
			if got := saved(); got != stickyID {
				t.Errorf("the saved variation is %q, was %q", got, stickyID)
			}
		})
	}
	if again := decide(`{` + user + `}`); again["variationKey"] != sticky {
		t.Errorf("after the forced decisions: %v, want the sticky %q", again["variationKey"], sticky)
	}

	// A new user forced into a variation is not enrolled: nothing saved.
	d := decide(`{"userId":"forced-new","forcedDecisions":[{"flagKey":"new_search","ruleKey":"search_experiment","variationKey":"classic"}]}`)
	if d["variationKey"] != "classic" {
		t.Errorf("new user: %v", d["variationKey"])
	}
	if p, _ := s.store.Lookup(context.Background(), "forced-new"); !p.Empty() {
		t.Errorf("a forced decision saved %v", p.Assignments)
	}
}
