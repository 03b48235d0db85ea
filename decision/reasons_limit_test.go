package decision_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	optdecide "github.com/optimizely/go-sdk/v2/pkg/decide"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/internal/officialsdk"
)

// TestReasonsLimit: the official SDK repeats an audience's messages for
// every rule that refers to it, so a rollout of 400 rules sharing an
// audience of three conditions of an unknown match gives 2,002 reasons.
// Ours are the SDK's first 1,000, word for word, then one line counting
// the rest.
func TestReasonsLimit(t *testing.T) {
	const rules = 400
	or := []any{"or"}
	for i := range 3 {
		or = append(or, map[string]any{"type": "custom_attribute", "name": "plan", "match": "regex", "value": fmt.Sprint(i)})
	}
	var list []any
	for i := range rules + 1 {
		id := fmt.Sprint(20000 + i)
		audiences := []any{"900"}
		if i == rules {
			audiences = []any{}
		}
		list = append(list, map[string]any{
			"id": id, "key": "rule_" + id, "layerId": "2", "status": "Running", "audienceIds": audiences,
			"variations":        []any{map[string]any{"id": id + "1", "key": "on", "featureEnabled": true}},
			"trafficAllocation": []any{map[string]any{"entityId": id + "1", "endOfRange": 10000}},
		})
	}
	raw, err := json.Marshal(map[string]any{
		"version": "4", "revision": "1", "accountId": "1", "projectId": "2",
		"attributes":     []any{map[string]any{"id": "1", "key": "plan"}},
		"audiences":      []any{},
		"typedAudiences": []any{map[string]any{"id": "900", "name": "unknown", "conditions": or}},
		"experiments":    []any{}, "groups": []any{}, "events": []any{},
		"rollouts":     []any{map[string]any{"id": "40000", "experiments": list}},
		"featureFlags": []any{map[string]any{"id": "50000", "key": "flag", "rolloutId": "40000", "experimentIds": []any{}, "variables": []any{}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	df, err := decision.ParseDatafile(raw)
	if err != nil {
		t.Fatal(err)
	}
	c, err := decision.NewClient(decision.Options{Datafile: df})
	if err != nil {
		t.Fatal(err)
	}
	user := decision.User{ID: "u", Attributes: map[string]any{"plan": "x"}}
	ours, err := c.Decide(context.Background(), user, "flag", decision.IncludeReasons)
	if err != nil {
		t.Fatal(err)
	}
	sdk := officialsdk.Client(t, raw, nil)
	uc := sdk.CreateUserContext(user.ID, user.Attributes)
	theirs := uc.Decide("flag", []optdecide.OptimizelyDecideOptions{optdecide.IncludeReasons, optdecide.DisableDecisionEvent})
	if ours.VariationKey != theirs.VariationKey || ours.RuleKey != theirs.RuleKey {
		t.Fatalf("ours %s/%s, the SDK's %s/%s", ours.VariationKey, ours.RuleKey, theirs.VariationKey, theirs.RuleKey)
	}
	const limit = 1000
	if len(theirs.Reasons) != rules*5+2 {
		t.Fatalf("the SDK gave %d reasons, want %d", len(theirs.Reasons), rules*5+2)
	}
	if len(ours.Reasons) != limit+1 || !slices.Equal(ours.Reasons[:limit], theirs.Reasons[:limit]) {
		t.Fatalf("ours: %d reasons, the first differing from the SDK's: %q", len(ours.Reasons), firstDifference(ours.Reasons, theirs.Reasons))
	}
	want := fmt.Sprintf("%d more reasons left out (the limit is %d).", len(theirs.Reasons)-limit, limit)
	if last := ours.Reasons[limit]; last != want {
		t.Errorf("last reason %q, want %q", last, want)
	}
	if !strings.Contains(ours.Reasons[0], `invalid Condition matcher "regex"`) {
		t.Errorf("first reason %q", ours.Reasons[0])
	}
}

func firstDifference(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("#%d: %q vs %q", i, a[i], b[i])
		}
	}
	return "none in the common part"
}
