package decision

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

var usUser = User{ID: "u1", Attributes: map[string]any{"country": "us"}}

func TestNewClient(t *testing.T) {
	if _, err := NewClient(Options{}); err == nil {
		t.Error("NewClient without a datafile: no error")
	}
}

func TestParseOption(t *testing.T) {
	for _, o := range []Option{IgnoreUserProfileService, EnabledFlagsOnly, IncludeReasons, ExcludeVariables, DisableDecisionEvent} {
		if got, err := ParseOption(string(o)); got != o || err != nil {
			t.Errorf("ParseOption(%q) = %q, %v", o, got, err)
		}
	}
	for _, s := range []string{"", "include_reasons", "ENABLED_FLAGS"} {
		if _, err := ParseOption(s); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
			t.Errorf("ParseOption(%q): error %v should name it", s, err)
		}
	}
}

func TestDecideAllOneLookupOneSave(t *testing.T) {
	store := newFakeStore()
	c := newTestClient(t, "sticky.json", store)
	got, err := c.DecideAll(context.Background(), usUser)
	if err != nil {
		t.Fatal(err)
	}
	if keys := slices.Sorted(maps.Keys(got)); !slices.Equal(keys, []string{"flag_empty", "flag_full", "flag_group", "flag_paused", "flag_rollout_only"}) {
		t.Errorf("flags %q", keys)
	}
	if l, s := store.calls(); l != 1 || s != 1 {
		t.Errorf("%d lookups, %d saves; want 1, 1", l, s)
	}
	if s := store.lastSave(); !maps.Equal(s, map[string]string{"1700": "1701", "1300": "1301"}) {
		t.Errorf("saved %v", s)
	}

	// Next call: one assignment is already there, one is stale; only what
	// changes is saved.
	store.set("u1", "1300", "gone")
	got, err = c.DecideAll(context.Background(), usUser)
	if err != nil {
		t.Fatal(err)
	}
	if s := store.lastSave(); !maps.Equal(s, map[string]string{"1300": "1301"}) {
		t.Errorf("second save %v, want only the re-bucketed entry", s)
	}
	if got["flag_group"].VariationKey != "a" {
		t.Errorf("flag_group %+v", got["flag_group"])
	}

	// Nothing new: no save at all.
	if _, err := c.DecideAll(context.Background(), usUser); err != nil {
		t.Fatal(err)
	}
	if l, s := store.calls(); l != 3 || s != 2 {
		t.Errorf("after three calls: %d lookups, %d saves; want 3, 2", l, s)
	}
}

func TestStickyAcrossFlags(t *testing.T) {
	store := newFakeStore()
	store.set("u1", "1700", "1702") // saved into "off" although traffic now says "on"
	c := newTestClient(t, "sticky.json", store)
	d, err := c.Decide(context.Background(), usUser, "flag_full")
	if err != nil {
		t.Fatal(err)
	}
	if d.VariationKey != "off" || d.Enabled || d.RuleKey != "exp_feature" {
		t.Errorf("got %+v, want the saved variation off", d)
	}
	if _, s := store.calls(); s != 0 {
		t.Errorf("%d saves, want none", s)
	}
}

func TestDecideForKeys(t *testing.T) {
	store := newFakeStore()
	c := newTestClient(t, "sticky.json", store)
	ctx := context.Background()
	keys := []string{"flag_full", "nope", "flag_paused", "flag_full"}
	got, err := c.DecideForKeys(ctx, usUser, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got["flag_full"].Enabled || got["nope"].Enabled || len(got["nope"].Reasons) != 1 || got["flag_paused"].Enabled {
		t.Errorf("got %+v", got)
	}
	if l, s := store.calls(); l != 1 || s != 1 {
		t.Errorf("%d lookups, %d saves; want 1, 1", l, s)
	}

	got, err = c.DecideForKeys(ctx, usUser, keys, EnabledFlagsOnly, ExcludeVariables)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["flag_full"].VariationKey != "on" || got["flag_full"].Variables.Len() != 0 {
		t.Errorf("EnabledFlagsOnly: got %+v", got)
	}

	// Flags that never reach a profile step make no lookup.
	store = newFakeStore()
	c = newTestClient(t, "sticky.json", store)
	if _, err := c.DecideForKeys(ctx, usUser, []string{"flag_rollout_only", "flag_paused", "flag_empty"}); err != nil {
		t.Fatal(err)
	}
	if l, s := store.calls(); l != 0 || s != 0 {
		t.Errorf("%d lookups, %d saves; want none", l, s)
	}
	if _, err := c.DecideAll(ctx, usUser, IgnoreUserProfileService); err != nil {
		t.Fatal(err)
	}
	if l, s := store.calls(); l != 0 || s != 0 {
		t.Errorf("IgnoreUserProfileService: %d lookups, %d saves", l, s)
	}
	if got, _ := c.DecideForKeys(ctx, usUser, nil); len(got) != 0 {
		t.Errorf("no keys: %v", got)
	}
}

func TestFailingLookup(t *testing.T) {
	boom := errors.New("cassandra: timeout")
	store := newFakeStore()
	store.set("u1", "1700", "1702") // unreadable: the lookup fails
	store.lookupErr = boom
	c := newTestClient(t, "sticky.json", store)
	ctx := context.Background()

	got, err := c.DecideAll(ctx, usUser)
	if !errors.Is(err, ErrProfileStore) || !errors.Is(err, boom) {
		t.Fatalf("error %v: want ErrProfileStore wrapping the store's error", err)
	}
	// Decided as if there were no profile: bucketed into "on", not the
	// saved "off"; and nothing written over the unreadable entry.
	if d := got["flag_full"]; d.VariationKey != "on" || !d.Enabled {
		t.Errorf("flag_full %+v", d)
	}
	if l, s := store.calls(); l != 1 || s != 0 {
		t.Errorf("%d lookups, %d saves; want 1, 0", l, s)
	}
	if r := strings.Join(got["flag_full"].Reasons, "\n"); !strings.Contains(r, "lookup failed") || !strings.Contains(r, "cassandra: timeout") {
		t.Errorf("flag_full reasons %q", got["flag_full"].Reasons)
	}
	if r := got["flag_rollout_only"].Reasons; r != nil {
		t.Errorf("a rollout decision reports the store: %q", r)
	}

	d, err := c.DecideExperiment(ctx, usUser, "exp_us")
	if !errors.Is(err, ErrProfileStore) || d.VariationKey != "a" {
		t.Errorf("DecideExperiment: %+v, %v", d, err)
	}
	fd, err := c.Decide(ctx, usUser, "flag_full")
	if !errors.Is(err, ErrProfileStore) || fd.VariationKey != "on" {
		t.Errorf("Decide: %+v, %v", fd, err)
	}
	// No store consulted, no error.
	if _, err := c.Decide(ctx, usUser, "flag_rollout_only"); err != nil {
		t.Errorf("rollout-only flag: %v", err)
	}
}

func TestFailingSave(t *testing.T) {
	boom := errors.New("cassandra: unavailable")
	store := newFakeStore()
	store.saveErr = boom
	c := newTestClient(t, "sticky.json", store)
	got, err := c.DecideForKeys(context.Background(), usUser, []string{"flag_full", "flag_rollout_only", "flag_group"})
	if !errors.Is(err, ErrProfileStore) || !errors.Is(err, boom) {
		t.Fatalf("error %v", err)
	}
	if l, s := store.calls(); l != 1 || s != 1 {
		t.Errorf("%d lookups, %d saves; want 1, 1", l, s)
	}
	for key, saving := range map[string]bool{"flag_full": true, "flag_group": true, "flag_rollout_only": false} {
		d := got[key]
		if mentions := strings.Contains(strings.Join(d.Reasons, "\n"), "save failed"); mentions != saving {
			t.Errorf("%s: reasons %q", key, d.Reasons)
		}
	}
	if got["flag_full"].VariationKey != "on" || got["flag_group"].VariationKey != "a" {
		t.Errorf("decisions lost: %+v", got)
	}
}

func TestContextCancelledIsAStoreError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	store := &ctxStore{}
	c := newTestClient(t, "sticky.json", store)
	d, err := c.Decide(ctx, usUser, "flag_full")
	if !errors.Is(err, ErrProfileStore) || !errors.Is(err, context.Canceled) || d.VariationKey != "on" {
		t.Errorf("got %+v, %v", d, err)
	}
}

func TestConcurrentDecisions(t *testing.T) {
	store := newFakeStore()
	c := newTestClient(t, "sticky.json", store)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				u := User{ID: fmt.Sprintf("user-%d-%d", i, j%5), Attributes: map[string]any{"country": "us", "age": j}}
				if _, err := c.DecideAll(context.Background(), u, IncludeReasons); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}
