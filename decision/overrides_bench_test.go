package decision_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// BenchmarkOverrides: what overrides cost a sticky experiment decision on
// the memory stores: off (no override store: the path every deployment
// takes by default), on with no override for the user (one read per
// call), and on with the user's override served.
func BenchmarkOverrides(b *testing.B) {
	raw, err := os.ReadFile("testdata/decide-test-datafile.json")
	if err != nil {
		b.Fatal(err)
	}
	df, err := decision.ParseDatafile(raw)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, mode := range []string{"off", "on-none", "on-served"} {
		b.Run(mode, func(b *testing.B) {
			profiles, _ := ups.NewMemory(ups.MemoryOptions{})
			opts := decision.Options{Datafile: df, Profiles: profiles}
			if mode != "off" {
				o, _ := ups.NewMemoryOverrides(ups.MemoryOverridesOptions{})
				opts.Overrides = o
			}
			c, err := decision.NewClient(opts)
			if err != nil {
				b.Fatal(err)
			}
			users := make([]decision.User, 256)
			for i := range users {
				users[i] = decision.User{ID: fmt.Sprintf("bench-%d", i)}
				if mode == "on-served" {
					if _, err := c.SetOverride(ctx, users[i].ID, "exp_no_audience", "variation_no_traffic"); err != nil {
						b.Fatal(err)
					}
				}
				// Sticky first: the loop measures returning users.
				if _, err := c.DecideExperiment(ctx, users[i], "exp_no_audience"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := c.DecideExperiment(ctx, users[i%len(users)], "exp_no_audience"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
