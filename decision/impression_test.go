package decision

import (
	"context"
	"fmt"
	"testing"
)

// A decision carries the IDs an impression names: the rule's ID and
// layerId and the variation's ID, for feature tests, rollouts and plain
// experiments; none when nothing served.
func TestDecisionsNameWhatImpressionsNeed(t *testing.T) {
	c := newTestClient(t, "../../examples/datafile-v1.json", nil)
	ctx := context.Background()
	alice := User{ID: "alice", Attributes: map[string]any{"plan": "pro", "app_version": "3.2.0"}}

	d, err := c.Decide(ctx, alice, "new_search")
	if err != nil {
		t.Fatal(err)
	}
	if d.Source != SourceFeatureTest || d.ExperimentID != "3003" || d.LayerID != "9001" || d.VariationID == "" {
		t.Errorf("feature test: source %q, experiment %q, layer %q, variation %q", d.Source, d.ExperimentID, d.LayerID, d.VariationID)
	}
	if want := map[string]string{"classic": "4005", "semantic": "4006"}[d.VariationKey]; d.VariationID != want {
		t.Errorf("variation %q has ID %q, want %q", d.VariationKey, d.VariationID, want)
	}

	// dark_mode's rollout: the targeted rule, or Everyone Else, or nothing.
	served := map[string]bool{}
	for i := range 50 {
		id := fmt.Sprintf("u%d", i)
		d, err := c.Decide(ctx, User{ID: id}, "dark_mode")
		if err != nil {
			t.Fatal(err)
		}
		switch d.RuleKey {
		case "everyone_else_dark":
			served["rule"] = true
			if d.Source != SourceRollout || d.ExperimentID != "7003" || d.LayerID != "6002" || d.VariationID != "4009" {
				t.Errorf("rollout: %+v", d)
			}
		case "":
			served["none"] = true
			if d.Source != "" || d.ExperimentID != "" || d.LayerID != "" || d.VariationID != "" {
				t.Errorf("no variation, yet IDs: %+v", d)
			}
		default:
			t.Errorf("rule %q for %s", d.RuleKey, id)
		}
	}
	if !served["rule"] || !served["none"] {
		t.Errorf("the users did not cover both outcomes: %v", served)
	}

	e, err := c.DecideExperiment(ctx, alice, "checkout_button")
	if err != nil {
		t.Fatal(err)
	}
	if e.ExperimentID != "3001" || e.LayerID != "9000" || e.VariationID == "" {
		t.Errorf("experiment: %+v", e)
	}
	if !c.Datafile().HasFlag("dark_mode") || c.Datafile().HasFlag("checkout_button") {
		t.Error("HasFlag")
	}
}
