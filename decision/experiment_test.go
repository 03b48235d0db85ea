package decision

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestDecideExperiment(t *testing.T) {
	us := map[string]any{"country": "us"}
	fr := map[string]any{"country": "fr"}
	tests := []struct {
		name      string
		key       string
		user      User
		saved     map[string]string // profile before
		opts      []Option
		want      string // variation key
		wantSave  map[string]string
		wantCalls [2]int // lookups, saves
	}{
		{name: "bucketed and saved", key: "exp_us", user: User{ID: "u1", Attributes: us},
			want: "a", wantSave: map[string]string{"1000": "1001"}, wantCalls: [2]int{1, 1}},
		{name: "audience excluded, nothing saved", key: "exp_us", user: User{ID: "u1", Attributes: fr},
			want: "", wantCalls: [2]int{1, 0}},
		{name: "saved variation served before audiences", key: "exp_us", user: User{ID: "u1", Attributes: fr}, saved: map[string]string{"1000": "1002"},
			want: "b", wantCalls: [2]int{1, 0}},
		{name: "saved variation served although bucketing differs", key: "exp_us", user: User{ID: "u1", Attributes: us}, saved: map[string]string{"1000": "1002"},
			want: "b", wantCalls: [2]int{1, 0}},
		{name: "stale saved variation re-bucketed and overwritten", key: "exp_us", user: User{ID: "u1", Attributes: us}, saved: map[string]string{"1000": "9999"},
			want: "a", wantSave: map[string]string{"1000": "1001"}, wantCalls: [2]int{1, 1}},
		{name: "stale saved variation, audience excluded: left alone", key: "exp_us", user: User{ID: "u1", Attributes: fr}, saved: map[string]string{"1000": "9999"},
			want: "", wantCalls: [2]int{1, 0}},
		{name: "paused: not even the saved variation or the whitelist", key: "exp_paused", user: User{ID: "vip", Attributes: nil}, saved: map[string]string{"1100": "1101"},
			want: "", wantCalls: [2]int{0, 0}},
		{name: "whitelisted before audiences and profile, never saved", key: "exp_whitelist", user: User{ID: "vip", Attributes: fr}, saved: map[string]string{"1200": "1201"},
			want: "b", wantCalls: [2]int{0, 0}},
		{name: "whitelist naming an unknown variation is ignored", key: "exp_whitelist", user: User{ID: "confused", Attributes: us},
			want: "a", wantSave: map[string]string{"1200": "1201"}, wantCalls: [2]int{1, 1}},
		{name: "not(and(null, false)) lets the user in", key: "exp_not_and", user: User{ID: "u1", Attributes: us},
			want: "a", wantSave: map[string]string{"1500": "1501"}, wantCalls: [2]int{1, 1}},
		{name: "not(and(null, null)) is null: out", key: "exp_not_and", user: User{ID: "u1", Attributes: nil},
			want: "", wantCalls: [2]int{1, 0}},
		{name: "audienceConditions [] lets everyone in; empty entity serves nobody", key: "exp_nobody", user: User{ID: "u1", Attributes: fr},
			want: "", wantCalls: [2]int{1, 0}},
		{name: "group allocates the user to this experiment", key: "exp_group_in", user: User{ID: "u1", Attributes: nil},
			want: "a", wantSave: map[string]string{"1300": "1301"}, wantCalls: [2]int{1, 1}},
		{name: "group allocates the user elsewhere", key: "exp_group_out", user: User{ID: "u1", Attributes: nil},
			want: "", wantCalls: [2]int{1, 0}},
		{name: "overlapping group does not exclude", key: "exp_overlapping", user: User{ID: "u1", Attributes: nil},
			want: "a", wantSave: map[string]string{"1900": "1901"}, wantCalls: [2]int{1, 1}},
		{name: "semver audience", key: "exp_new_app", user: User{ID: "u1", Attributes: map[string]any{"app_version": "2.1.0"}},
			want: "a", wantSave: map[string]string{"1800": "1801"}, wantCalls: [2]int{1, 1}},
		{name: "semver audience, pre-release below", key: "exp_new_app", user: User{ID: "u1", Attributes: map[string]any{"app_version": "2.0.0-beta"}},
			want: "", wantCalls: [2]int{1, 0}},
		{name: "ignore profiles: saved variation not used, nothing saved", key: "exp_us", user: User{ID: "u1", Attributes: us}, saved: map[string]string{"1000": "1002"},
			opts: []Option{IgnoreUserProfileService}, want: "a", wantCalls: [2]int{0, 0}},
		{name: "unknown experiment", key: "nope", user: User{ID: "u1", Attributes: us},
			want: "", wantCalls: [2]int{0, 0}},
		{name: "rollout rule keys are not experiments", key: "everyone_else", user: User{ID: "u1", Attributes: us},
			want: "", wantCalls: [2]int{0, 0}},
		{name: "empty user ID decided without a profile", key: "exp_us", user: User{ID: "", Attributes: us},
			want: "a", wantCalls: [2]int{0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeStore()
			for exp, v := range tc.saved {
				store.set(tc.user.ID, exp, v)
			}
			c := newTestClient(t, "sticky.json", store)
			d, err := c.DecideExperiment(context.Background(), tc.user, tc.key, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if d.VariationKey != tc.want {
				t.Errorf("variation %q, want %q", d.VariationKey, tc.want)
			}
			if got := store.lastSave(); !maps.Equal(got, tc.wantSave) {
				t.Errorf("saved %v, want %v", got, tc.wantSave)
			}
			if l, s := store.calls(); [2]int{l, s} != tc.wantCalls {
				t.Errorf("%d lookups, %d saves; want %d, %d", l, s, tc.wantCalls[0], tc.wantCalls[1])
			}
			if d.VariationKey != "" && (d.ExperimentKey != tc.key || d.VariationID == "" || d.ExperimentID == "") {
				t.Errorf("incomplete decision %+v", d)
			}
		})
	}
}

func TestDecideExperimentWithoutStore(t *testing.T) {
	c := newTestClient(t, "sticky.json", nil)
	d, err := c.DecideExperiment(context.Background(), User{ID: "u1", Attributes: map[string]any{"country": "us"}}, "exp_us")
	if err != nil || d.VariationKey != "a" {
		t.Fatalf("got %+v, %v", d, err)
	}
	want := ExperimentDecision{ExperimentKey: "exp_us", ExperimentID: "1000", VariationKey: "a", VariationID: "1001"}
	if d.ExperimentKey != want.ExperimentKey || d.ExperimentID != want.ExperimentID || d.VariationID != want.VariationID || d.Reasons != nil {
		t.Errorf("got %+v, want %+v", d, want)
	}
}

func TestDecideExperimentReasons(t *testing.T) {
	store := newFakeStore()
	store.set("u1", "1000", "9999")
	c := newTestClient(t, "sticky.json", store)
	ctx := context.Background()
	u := User{ID: "u1", Attributes: map[string]any{"country": "us", "$opt_bucketing_id": 7}}

	d, err := c.DecideExperiment(ctx, u, "exp_us", IncludeReasons)
	if err != nil {
		t.Fatal(err)
	}
	// The official Go SDK's words, in its order (the differential test
	// compares them with the SDK's own).
	want := []string{
		`User "u1" was previously bucketed into variation with ID "9999" for experiment "exp_us", but no matching variation was found.`,
		`Audiences for experiment exp_us collectively evaluated to true.`,
		`Error computing bucketing ID for experiment "exp_us": "invalid bucketing ID provided: \"7\""`,
	}
	if !slices.Equal(d.Reasons, want) {
		t.Errorf("reasons:\n%s\nwant:\n%s", strings.Join(d.Reasons, "\n"), strings.Join(want, "\n"))
	}

	d, err = c.DecideExperiment(ctx, u, "exp_us")
	if err != nil || d.Reasons != nil {
		t.Errorf("without IncludeReasons: reasons %q, err %v", d.Reasons, err)
	}
	d, _ = c.DecideExperiment(ctx, User{ID: "u1"}, "exp_paused", IncludeReasons)
	if len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], `not running (status "Paused")`) {
		t.Errorf("paused: %q", d.Reasons)
	}
	d, _ = c.DecideExperiment(ctx, User{ID: "vip"}, "exp_whitelist", IncludeReasons)
	if len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "whitelisted") {
		t.Errorf("whitelisted: %q", d.Reasons)
	}
	// An empty ID is a problem: reported even without IncludeReasons.
	d, _ = c.DecideExperiment(ctx, User{ID: "", Attributes: map[string]any{"country": "us"}}, "exp_us")
	if d.VariationKey != "a" || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "user_id is empty") {
		t.Errorf("empty ID: %+v", d)
	}
}

// TestAmbiguousExperimentKey uses the official SDK's fixture where two flags
// each have a rule keyed "targeted_delivery".
func TestAmbiguousExperimentKey(t *testing.T) {
	c := newTestClient(t, "similar_exp_keys_datafile.json", nil)
	d, err := c.DecideExperiment(context.Background(), User{ID: "u"}, "targeted_delivery")
	if err != nil || d.ExperimentID != "" || len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "used by several experiments") {
		t.Errorf("got %+v, %v", d, err)
	}
	if keys := c.Datafile().ExperimentKeys(); len(keys) != 2 || keys[0] != "targeted_delivery" || keys[1] != "targeted_delivery" {
		t.Errorf("ExperimentKeys() = %q", keys)
	}
}
