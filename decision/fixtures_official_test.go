package decision

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	optdecide "github.com/optimizely/go-sdk/v2/pkg/decide"

	"github.com/stickybucket/stickybucket/internal/officialsdk"
)

// TestFixturesMatchOfficialSDK decides the two realistic datafiles taken
// from the official Go SDK for many users, with the official SDK run
// in-process, and requires identical flag decisions. Neither fixture uses
// a documented difference (paused experiments, unsafe numbers), except by the rare float32 bucket, which the users
// below do not hit.

func fixtureUser(r *rand.Rand, i int) User {
	attrs := map[string]any{}
	maybe := func(key string, values ...any) {
		if n := r.IntN(len(values) + 1); n < len(values) {
			attrs[key] = values[n]
		}
	}
	maybe("house", "Gryffindor", "Welcome to Slytherin!", "Hufflepuff", 7)
	maybe("lasers", 45.5, 71, int64(70), 0.5, float32(1), "45.5")
	maybe("should_do_it", true, false, "true")
	maybe("favorite_ice_cream", "mint", nil)
	maybe("input_value", "x", 0)
	maybe("browser_type", "Chrome", "Safari")
	maybe("gender", "f", "m")
	maybe("country", "US", "us")
	maybe("browser", "safari", "chrome")
	maybe("age", 17, 18, 19.5, uint8(40))
	if r.IntN(10) == 0 {
		attrs["$opt_bucketing_id"] = fmt.Sprintf("bucket-%d", r.IntN(50))
	}
	return User{ID: fmt.Sprintf("user-%d", i), Attributes: attrs}
}

func TestFixturesMatchOfficialSDK(t *testing.T) {
	for _, file := range []string{"decide-test-datafile.json", "typed_audience_datafile.json"} {
		t.Run(file, func(t *testing.T) {
			data, ours := readFixture(t, file)
			official := officialsdk.Client(t, data, nil)
			c, err := NewClient(Options{Datafile: ours})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			enabled := 0
			for i := range 400 {
				u := fixtureUser(r, i)
				got, err := c.DecideAll(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				uc := official.CreateUserContext(u.ID, u.Attributes)
				want := uc.DecideAll([]optdecide.OptimizelyDecideOptions{optdecide.DisableDecisionEvent})
				if len(got) != len(want) {
					t.Fatalf("user %v: %d decisions, official %d", u, len(got), len(want))
				}
				for key, w := range want {
					g := got[key]
					if g.Enabled {
						enabled++
					}
					if g.Enabled != w.Enabled || g.VariationKey != w.VariationKey || g.RuleKey != w.RuleKey || !reflect.DeepEqual(g.Variables.Map(), nilIfEmpty(w.Variables.ToMap())) {
						t.Errorf("user %v, flag %s:\n  ours     %v %q %q %v\n  official %v %q %q %v",
							u, key, g.Enabled, g.VariationKey, g.RuleKey, g.Variables.Map(), w.Enabled, w.VariationKey, w.RuleKey, w.Variables.ToMap())
					}
				}
			}
			if enabled == 0 {
				t.Error("no user got an enabled flag: the comparison is vacuous")
			}
		})
	}
}

// nilIfEmpty makes an empty map nil, as Variables.Map returns for a flag
// without variables.
func nilIfEmpty(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return m
}
