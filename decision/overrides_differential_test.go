package decision_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	optdecide "github.com/optimizely/go-sdk/v2/pkg/decide"
	optdecision "github.com/optimizely/go-sdk/v2/pkg/decision"
	optentities "github.com/optimizely/go-sdk/v2/pkg/entities"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/internal/officialsdk"
	"github.com/stickybucket/stickybucket/ups"
)

// TestOverridesDifferential sets the same forced variations on our client
// (SetOverride, Options.Overrides) and on the official Go SDK (its
// experiment override store, which Agent's SetForcedVariation writes), for
// users who are whitelisted, users with a saved assignment the datafile
// would not give them, and fresh users, and with valid and unknown
// variation keys. Both sides must answer alike (experiments and flags,
// the SDK's override reason word for word), neither may save an override
// into the profile, and after removal both must serve what they served
// before, the saved assignment included.
func TestOverridesDifferential(t *testing.T) {
	ctx := context.Background()
	var df map[string]any
	raw, err := os.ReadFile("testdata/decide-test-datafile.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &df); err != nil {
		t.Fatal(err)
	}
	// Whitelist u1 into the variation without traffic, so whitelisting
	// and an override meet.
	exps := df["experiments"].([]any)
	exps[1].(map[string]any)["forcedVariations"] = map[string]any{"u1": "variation_no_traffic"}
	raw, _ = json.Marshal(df)

	const expNoAud, noTrafficID = "exp_no_audience", "10418510624"
	// sdkOverrides is what Agent's SetForcedVariation writes to.
	sdkOverrides := optdecision.NewMapExperimentOverridesStore()
	sdkProfiles := newOfficialProfiles()
	sdk := officialsdk.OverridesClient(t, raw, sdkProfiles, sdkOverrides)

	parsed, err := decision.ParseDatafile(raw)
	if err != nil {
		t.Fatal(err)
	}
	profiles, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	overrides, err := ups.NewMemoryOverrides(ups.MemoryOverridesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ours, err := decision.NewClient(decision.Options{Datafile: parsed, Profiles: profiles, Overrides: overrides})
	if err != nil {
		t.Fatal(err)
	}

	users := make([]string, 12)
	for i := range users {
		users[i] = fmt.Sprintf("u%d", i)
	}
	// u2 and u3 are sticky in the variation the datafile gives no traffic.
	for _, u := range []string{"u2", "u3"} {
		sdkProfiles.Save(optdecision.UserProfile{ID: u, ExperimentBucketMap: map[optdecision.UserDecisionKey]string{optdecision.NewUserDecisionKey("10420810910"): noTrafficID}})
		if err := profiles.Save(ctx, ups.Profile{UserID: u, Assignments: map[string]ups.Assignment{"10420810910": {VariationID: noTrafficID}}}); err != nil {
			t.Fatal(err)
		}
	}
	experiments := []string{"exp_with_audience", expNoAud}
	variations := map[string][]string{
		"exp_with_audience": {"a", "b", "not_a_variation"},
		expNoAud:            {"variation_with_traffic", "variation_no_traffic", "not_a_variation"},
	}
	flags := []string{"feature_1", "feature_2", "feature_3"}

	type answers struct {
		exps    []string
		flags   []string
		reasons int // the SDK's override reasons
	}
	compare := func(stage string) answers {
		t.Helper()
		var a answers
		for _, u := range users {
			attrs := map[string]any{"gender": "f"}
			for _, e := range experiments {
				want, _ := sdk.GetVariation(e, optentities.UserContext{ID: u, Attributes: attrs})
				got, err := ours.DecideExperiment(ctx, decision.User{ID: u, Attributes: attrs}, e)
				if err != nil {
					t.Fatal(err)
				}
				if got.VariationKey != want {
					t.Errorf("%s: user %s, experiment %s: ours %q, the SDK %q", stage, u, e, got.VariationKey, want)
				}
				a.exps = append(a.exps, want)
			}
			for _, f := range flags {
				uc := sdk.CreateUserContext(u, attrs)
				want := uc.Decide(f, []optdecide.OptimizelyDecideOptions{optdecide.DisableDecisionEvent, optdecide.IncludeReasons})
				got, err := ours.Decide(ctx, decision.User{ID: u, Attributes: attrs}, f, decision.IncludeReasons)
				if err != nil {
					t.Fatal(err)
				}
				if got.VariationKey != want.VariationKey || got.Enabled != want.Enabled || got.RuleKey != want.RuleKey {
					t.Errorf("%s: user %s, flag %s: ours %q/%v/%q, the SDK %q/%v/%q", stage, u, f, got.VariationKey, got.Enabled, got.RuleKey, want.VariationKey, want.Enabled, want.RuleKey)
				}
				if w, g := overrideReasons(want.Reasons), overrideReasons(got.Reasons); !slices.Equal(w, g) {
					t.Errorf("%s: user %s, flag %s: override reasons: ours %q, the SDK %q", stage, u, f, g, w)
				}
				a.flags = append(a.flags, want.VariationKey)
				a.reasons += len(overrideReasons(want.Reasons))
			}
		}
		return a
	}
	profileOf := func(u string) ups.Profile {
		p, err := profiles.Lookup(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	before := compare("before overrides")
	savedBefore := map[string]ups.Profile{}
	for _, u := range users {
		savedBefore[u] = profileOf(u)
	}
	served := 0
	for i, u := range users {
		for j, e := range experiments {
			v := variations[e][(i+j)%len(variations[e])]
			sdkOverrides.SetVariation(optdecision.ExperimentOverrideKey{ExperimentKey: e, UserID: u}, v)
			if _, err := ours.SetOverride(ctx, u, e, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	during := compare("with overrides")
	for i := range during.exps {
		if during.exps[i] != before.exps[i] {
			served++
		}
	}
	if served == 0 || during.reasons == 0 {
		t.Fatalf("%d decisions changed, %d override reasons: the test proves nothing", served, during.reasons)
	}
	for _, u := range users {
		if got, want := profileOf(u), savedBefore[u]; !sameAssignments(got, want) {
			t.Errorf("user %s: overrides changed the profile: %v, was %v", u, got.Assignments, want.Assignments)
		}
	}
	for _, u := range users {
		for _, e := range experiments {
			sdkOverrides.RemoveVariation(optdecision.ExperimentOverrideKey{ExperimentKey: e, UserID: u})
			if _, err := ours.RemoveOverride(ctx, u, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	after := compare("after removal")
	if !slices.Equal(after.exps, before.exps) || !slices.Equal(after.flags, before.flags) {
		t.Errorf("after removal the SDK's answers changed: %v %v, were %v %v", after.exps, after.flags, before.exps, before.flags)
	}
	t.Logf("%d of %d experiment decisions changed by an override; %d flag decisions gave the override reason", served, len(during.exps), during.reasons)
}

func overrideReasons(rs []string) []string {
	var out []string
	for _, r := range rs {
		if strings.HasPrefix(r, "Override variation") {
			out = append(out, r)
		}
	}
	return out
}

func sameAssignments(a, b ups.Profile) bool {
	if len(a.Assignments) != len(b.Assignments) {
		return false
	}
	for id, x := range a.Assignments {
		if y, ok := b.Assignments[id]; !ok || y.VariationID != x.VariationID {
			return false
		}
	}
	return true
}

// failingOverrides is an override store that cannot be read.
type failingOverrides struct{ ups.Overrides }

func (failingOverrides) UserOverrides(context.Context, string, string) (map[string]string, error) {
	return nil, errors.New("overrides store down")
}

// TestOverridesReadFailure: a failed read of the user's overrides is
// reported and the call decides as without overrides, the profile
// included.
func TestOverridesReadFailure(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile("testdata/decide-test-datafile.json")
	if err != nil {
		t.Fatal(err)
	}
	df, err := decision.ParseDatafile(raw)
	if err != nil {
		t.Fatal(err)
	}
	profiles, _ := ups.NewMemory(ups.MemoryOptions{})
	plain, _ := decision.NewClient(decision.Options{Datafile: df, Profiles: profiles})
	failing, _ := decision.NewClient(decision.Options{Datafile: df, Profiles: profiles, Overrides: failingOverrides{}})
	u := decision.User{ID: "u"}
	want, err := plain.DecideExperiment(ctx, u, "exp_no_audience")
	if err != nil || want.VariationKey == "" {
		t.Fatalf("without overrides: %+v, %v", want, err)
	}
	got, err := failing.DecideExperiment(ctx, u, "exp_no_audience")
	if err != nil || got.VariationKey != want.VariationKey || got.Profile != decision.ProfileRead {
		t.Fatalf("with a failing override store: %+v, %v; want %q from the profile", got, err, want.VariationKey)
	}
	if len(got.Reasons) != 1 || !strings.Contains(got.Reasons[0], "Overrides could not be read (overrides store down)") {
		t.Fatalf("reasons %q", got.Reasons)
	}
}
