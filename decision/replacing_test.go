package decision

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// interloper is a store in which another server writes the user once,
// after this server's decision read the user and before its write reaches
// the store: the race two servers on different datafiles run when they
// replace or refresh one user's assignment at the same moment.
type interloper struct {
	*ups.Memory
	once  sync.Once
	other func()
}

func (s *interloper) Save(ctx context.Context, p ups.Profile) error {
	s.once.Do(s.other)
	return s.Memory.Save(ctx, p)
}

func (s *interloper) SaveFirst(ctx context.Context, p ups.Profile) (ups.Profile, error) {
	s.once.Do(s.other)
	return s.Memory.SaveFirst(ctx, p)
}

func (s *interloper) SaveReplacing(ctx context.Context, p ups.Profile, was map[string]ups.Assignment) (ups.Profile, error) {
	s.once.Do(s.other)
	return s.Memory.SaveReplacing(ctx, p, was)
}

// TestFirstWriterWinsForReplacementsAndRefreshes: under FirstWriterWins a
// decision that replaces a saved assignment (its variation is gone, or it
// was decided before a reset) or refreshes it writes only if the store
// still holds what it read; when another server changed it meanwhile, the
// decision serves the stored assignment and says why, through each way a
// decision reads the profile. Without FirstWriterWins the last writer
// wins, as the control shows.
func TestFirstWriterWinsForReplacementsAndRefreshes(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	// Each decider reads experiment exp of the sticky datafile, which
	// buckets usUser into mine; the other server's datafile gives theirs.
	deciders := []struct {
		name               string
		exp, mine, theirs  string // experiment and variation IDs
		mineKey, theirsKey string
		decide             func(c *Client, opts ...Option) (string, []string, error)
	}{
		{"DecideExperiment (one assignment)", "1000", "1001", "1002", "a", "b", func(c *Client, opts ...Option) (string, []string, error) {
			d, err := c.DecideExperiment(ctx, usUser, "exp_us", opts...)
			return d.VariationKey, d.Reasons, err
		}},
		{"Decide (scoped)", "1700", "1701", "1702", "on", "off", func(c *Client, opts ...Option) (string, []string, error) {
			d, err := c.Decide(ctx, usUser, "flag_full", opts...)
			return d.VariationKey, d.Reasons, err
		}},
		{"DecideAll (whole profile)", "1700", "1701", "1702", "on", "off", func(c *Client, opts ...Option) (string, []string, error) {
			all, err := c.DecideAll(ctx, usUser, opts...)
			d := all["flag_full"]
			return d.VariationKey, d.Reasons, err
		}},
	}
	cases := []struct {
		name string
		// stored is what the user holds when the decision reads it: a
		// variation (mine, theirs, or one the datafile no longer has) and
		// how long ago it was decided.
		stored func(mine, theirs string) string
		age    time.Duration
		// interloper writes this variation (mine or theirs) after the read.
		interloper func(mine, theirs string) string
		// served under FirstWriterWins: mine or theirs.
		served func(mine, theirs string) string
		opts   Options
	}{
		{
			name:       "replacement of a variation gone from the datafile",
			stored:     func(string, string) string { return "9999" },
			age:        day,
			interloper: func(_, theirs string) string { return theirs },
			served:     func(_, theirs string) string { return theirs },
		},
		{
			name:       "refresh of an assignment another server replaced",
			stored:     func(_, theirs string) string { return theirs },
			age:        8 * day,
			interloper: func(mine, _ string) string { return mine },
			served:     func(mine, _ string) string { return mine },
			opts:       Options{RefreshAfter: 3 * day},
		},
		{
			// The reset re-decides the user into the variation it had
			// (its hash is unchanged); the other server re-decided it
			// into another meanwhile. Only the decision time tells the
			// two stored mines apart.
			name:       "reset that re-decides the same variation",
			stored:     func(mine, _ string) string { return mine },
			age:        2 * day,
			interloper: func(_, theirs string) string { return theirs },
			served:     func(_, theirs string) string { return theirs },
		},
	}
	for _, d := range deciders {
		for _, tc := range cases {
			for _, firstWins := range []bool{true, false} {
				name := d.name + "/" + tc.name
				if !firstWins {
					name += "/control: plain saves"
				}
				t.Run(name, func(t *testing.T) {
					mem, clk := newPolicyStore(t, 10*day)
					stored := ups.NewProfile("u1")
					stored.Assignments[d.exp] = ups.Assignment{VariationID: tc.stored(d.mine, d.theirs), DecidedAt: clk.Now()}
					if err := mem.Save(ctx, stored); err != nil {
						t.Fatal(err)
					}
					reset := clk.Now().Add(time.Hour)
					clk.Advance(tc.age)
					other := tc.interloper(d.mine, d.theirs)
					store := &interloper{Memory: mem, other: func() {
						p := ups.NewProfile("u1")
						p.Assignments[d.exp] = ups.Assignment{VariationID: other, DecidedAt: clk.Now().Add(-time.Second)}
						if err := mem.Save(ctx, p); err != nil {
							t.Error(err)
						}
					}}
					opts := tc.opts
					opts.Profiles, opts.FirstWriterWins, opts.Now = store, firstWins, clk.Now
					if strings.HasPrefix(tc.name, "reset") {
						opts.Resets = map[string]Reset{d.exp: {Before: reset}}
					}
					c := newPolicyClient(t, opts)
					got, reasons, err := d.decide(c, IncludeReasons)
					if err != nil {
						t.Fatal(err)
					}
					a, _, _ := mem.LookupAssignment(ctx, "u1", d.exp)
					key := map[string]string{d.mine: d.mineKey, d.theirs: d.theirsKey}
					if !firstWins {
						// The last writer wins: this server's variation is
						// stored over the other's, which the other served.
						if a.VariationID == other && got == key[other] {
							t.Fatalf("plain saves served %s with %s stored: the race did not happen", got, a.VariationID)
						}
						return
					}
					want := tc.served(d.mine, d.theirs)
					if got != key[want] || a.VariationID != want {
						t.Fatalf("served %q with %q stored, want %s served and stored; reasons %q", got, a.VariationID, key[want], reasons)
					}
					if !slices.ContainsFunc(reasons, func(r string) bool { return strings.Contains(r, `Another server changed user "u1"'s assignment`) }) {
						t.Errorf("reasons do not say another server changed the assignment: %q", reasons)
					}
				})
			}
		}
	}
}

// TestFirstWriterWinsNeedsAReplacer: a store that can write first
// assignments conditionally but not replacements is refused, whatever
// layers are above it.
func TestFirstWriterWinsNeedsAReplacer(t *testing.T) {
	mem, _ := newPolicyStore(t, 0)
	firstOnly := struct {
		ups.Service
		ups.FirstWriter
	}{mem, mem}
	for _, store := range []ups.Service{firstOnly, newObserved(t, firstOnly)} {
		if _, err := NewClient(Options{Datafile: loadDatafile(t, "sticky.json"), Profiles: store, FirstWriterWins: true}); err == nil || !strings.Contains(err.Error(), "ups.Replacer") {
			t.Errorf("FirstWriterWins over %T, which cannot replace conditionally: %v", store, err)
		}
	}
}

func newObserved(t *testing.T, next ups.Service) *ups.Observed {
	t.Helper()
	o, err := ups.NewObserved(next, func(string, time.Duration, error) {})
	if err != nil {
		t.Fatal(err)
	}
	return o
}
