package decision

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// defaults are flag_full's variables when the feature is off.
func fullDefaults() map[string]any {
	return map[string]any{
		"banner": false, "max_items": 10, "discount": 0.5, "headline": "Welcome",
		"settings": map[string]any{"size": 1.0}, "legacy_json": map[string]any{"old": true}, "future": "#fff",
	}
}

func withVars(over map[string]any) map[string]any {
	m := fullDefaults()
	maps.Copy(m, over)
	return m
}

// flagWant is a FlagDecision with its variables as a map, for comparison.
type flagWant struct {
	FlagKey, VariationKey, RuleKey, Source string
	Enabled, EveryoneElse                  bool
	Variables                              map[string]any
	Reasons                                []string
}

func wantOf(d FlagDecision) flagWant {
	return flagWant{
		FlagKey: d.FlagKey, VariationKey: d.VariationKey, RuleKey: d.RuleKey, Source: d.Source,
		Enabled: d.Enabled, EveryoneElse: d.EveryoneElse, Variables: d.Variables.Map(), Reasons: d.Reasons,
	}
}

func TestDecideFlag(t *testing.T) {
	tests := []struct {
		name      string
		flag      string
		user      User
		opts      []Option
		want      flagWant
		wantSave  map[string]string
		wantCalls [2]int
	}{
		{
			name: "A/B test after a paused one", flag: "flag_full", user: User{ID: "u1", Attributes: map[string]any{"country": "us"}},
			want: flagWant{Enabled: true, VariationKey: "on", RuleKey: "exp_feature", Source: SourceFeatureTest, Variables: withVars(map[string]any{
				"banner": true, "max_items": 7, "discount": 2.5, "headline": "Hello", "settings": map[string]any{"size": 2.0, "tags": []any{"x"}},
			})},
			wantSave: map[string]string{"1700": "1701"}, wantCalls: [2]int{1, 1},
		},
		{
			name: "a variation that disables the feature wins and serves defaults", flag: "flag_full", user: User{ID: "tester", Attributes: map[string]any{"country": "us"}},
			want:      flagWant{Enabled: false, VariationKey: "off", RuleKey: "exp_feature", Source: SourceFeatureTest, Variables: fullDefaults()},
			wantCalls: [2]int{0, 0},
		},
		{
			name: "rule audience passes, traffic misses: straight to everyone else", flag: "flag_full", user: User{ID: "u2", Attributes: map[string]any{"country": "fr", "age": 30}},
			want:      flagWant{Enabled: false, VariationKey: "everyone_off", RuleKey: "everyone_else", Source: SourceRollout, Variables: fullDefaults()},
			wantCalls: [2]int{1, 0},
		},
		{
			name: "rollouts ignore whitelists", flag: "flag_full", user: User{ID: "fr_vip", Attributes: map[string]any{"country": "fr", "age": 30}},
			want:      flagWant{Enabled: false, VariationKey: "everyone_off", RuleKey: "everyone_else", Source: SourceRollout, Variables: fullDefaults()},
			wantCalls: [2]int{1, 0},
		},
		{
			name: "rule audience fails: next rule", flag: "flag_full", user: User{ID: "u3", Attributes: map[string]any{"country": "de", "age": 30}},
			want:      flagWant{Enabled: true, VariationKey: "adult_on", RuleKey: "rule_adults", Source: SourceRollout, Variables: withVars(map[string]any{"headline": "Hi", "max_items": 20})},
			wantCalls: [2]int{1, 0},
		},
		{
			name: "everyone else", flag: "flag_full", user: User{ID: "u4", Attributes: map[string]any{"country": "de", "age": int8(17)}},
			want:      flagWant{Enabled: false, VariationKey: "everyone_off", RuleKey: "everyone_else", Source: SourceRollout, Variables: fullDefaults()},
			wantCalls: [2]int{1, 0},
		},
		{
			name: "exclude variables", flag: "flag_full", user: User{ID: "u3", Attributes: map[string]any{"country": "de", "age": 30}}, opts: []Option{ExcludeVariables},
			want:      flagWant{Enabled: true, VariationKey: "adult_on", RuleKey: "rule_adults", Source: SourceRollout},
			wantCalls: [2]int{1, 0},
		},
		{
			name: "rollout only: no lookup, rule status ignored", flag: "flag_rollout_only", user: User{ID: "u1", Attributes: nil},
			want:      flagWant{Enabled: true, VariationKey: "on", RuleKey: "everyone", Source: SourceRollout, Variables: map[string]any{}},
			wantCalls: [2]int{0, 0},
		},
		{
			name: "paused experiment only: no lookup, off", flag: "flag_paused", user: User{ID: "u1", Attributes: nil},
			want:      flagWant{Variables: map[string]any{"n": 1}},
			wantCalls: [2]int{0, 0},
		},
		{
			name: "no experiments, no rollout", flag: "flag_empty", user: User{ID: "u1", Attributes: nil},
			want:      flagWant{Variables: map[string]any{}},
			wantCalls: [2]int{0, 0},
		},
		{
			name: "group: excluded from the first experiment, in the second", flag: "flag_group", user: User{ID: "u1", Attributes: nil},
			want:      flagWant{Enabled: false, VariationKey: "a", RuleKey: "exp_group_in", Source: SourceFeatureTest, Variables: map[string]any{}},
			wantSave:  map[string]string{"1300": "1301"},
			wantCalls: [2]int{1, 1},
		},
		{
			name: "unknown flag", flag: "nope", user: User{ID: "u1", Attributes: nil},
			want:      flagWant{Reasons: []string{`No flag was found for key "nope".`}},
			wantCalls: [2]int{0, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeStore()
			c := newTestClient(t, "sticky.json", store)
			got, err := c.Decide(context.Background(), tc.user, tc.flag, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.FlagKey = tc.flag
			if len(tc.want.Variables) == 0 {
				tc.want.Variables = nil
			}
			if got := wantOf(got); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if s := store.lastSave(); !maps.Equal(s, tc.wantSave) {
				t.Errorf("saved %v, want %v", s, tc.wantSave)
			}
			if l, s := store.calls(); [2]int{l, s} != tc.wantCalls {
				t.Errorf("%d lookups, %d saves; want %d, %d", l, s, tc.wantCalls[0], tc.wantCalls[1])
			}
		})
	}
}

// TestVariableTypes pins the Go types of variable values: those of the
// official SDK (bool, int, float64, string, decoded JSON).
func TestVariableTypes(t *testing.T) {
	c := newTestClient(t, "sticky.json", nil)
	d, err := c.Decide(context.Background(), User{ID: "u1", Attributes: map[string]any{"country": "us"}}, "flag_full")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"banner": "bool", "max_items": "int", "discount": "float64", "headline": "string",
		"settings": "map[string]interface {}", "legacy_json": "map[string]interface {}", "future": "string",
	}
	for k, typ := range want {
		if got := fmt.Sprintf("%T", d.Variables.Map()[k]); got != typ {
			t.Errorf("%s: %s, want %s", k, got, typ)
		}
	}
	// JSON values are the caller's to change.
	vars := d.Variables.Map()
	vars["settings"].(map[string]any)["tags"].([]any)[0] = "changed"
	vars["legacy_json"].(map[string]any)["old"] = false
	settings, _ := d.Variables.Get("settings")
	settings.(map[string]any)["size"] = -1.0
	again, _ := c.Decide(context.Background(), User{ID: "u1", Attributes: map[string]any{"country": "us"}}, "flag_full")
	av := again.Variables.Map()
	if av["settings"].(map[string]any)["tags"].([]any)[0] != "x" || av["legacy_json"].(map[string]any)["old"] != true || av["settings"].(map[string]any)["size"] != 2.0 {
		t.Errorf("a caller's change leaked into the datafile: %v", again.Variables)
	}
}

func TestFlagReasons(t *testing.T) {
	c := newTestClient(t, "sticky.json", newFakeStore())
	d, err := c.Decide(context.Background(), User{ID: "u2", Attributes: map[string]any{"country": "fr", "age": 30}}, "flag_full", IncludeReasons)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(d.Reasons, "\n")
	// The official Go SDK's words in its order, but for the paused
	// experiment, which the SDK would decide (a deliberate difference).
	want := []string{
		`Experiment "exp_paused" is not running (status "Paused").`,
		`Audiences for experiment exp_feature collectively evaluated to false.`,
		`User "u2" does not meet conditions to be in experiment "exp_feature".`,
		`Audiences for experiment rule_fr_dark collectively evaluated to true.`,
		`Audiences for experiment everyone_else collectively evaluated to true.`,
		`User "u2" meets conditions for targeting rule "Everyone Else".`,
	}
	if !slices.Equal(d.Reasons, want) {
		t.Errorf("reasons:\n%s\nwant:\n%s", all, strings.Join(want, "\n"))
	}
	if strings.Contains(all, "rule_adults") {
		t.Errorf("rule_adults was evaluated:\n%s", all)
	}
}

func TestEveryoneElse(t *testing.T) {
	r := &rollout{rules: []*experiment{
		{id: "default-1", key: "default-1"},
		{id: "7", key: "default-7"},
		{id: "default-9", key: "default-9"},
	}}
	for key, want := range map[string]bool{"default-9": true, "default-1": false, "default-7": false, "": false} {
		if got := r.everyoneElse(key); got != want {
			t.Errorf("everyoneElse(%q) = %v, want %v", key, got, want)
		}
	}
	if (&rollout{}).everyoneElse("x") {
		t.Error("empty rollout: everyoneElse true")
	}
}
