package ups

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestMemorySaveReplacing: an assignment is written where the store still
// holds the one the caller read (variation and decision time, to the
// millisecond) or none at all; elsewhere the stored one wins and is
// returned.
func TestMemorySaveReplacing(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	retention := Retention{Default: time.Hour, PerExperiment: map[string]time.Duration{"expiring": time.Minute}}
	m, err := NewMemory(MemoryOptions{Retention: retention, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	decided := clk.Now().Add(-time.Minute)
	stored := func(v string) Assignment { return Assignment{VariationID: v, DecidedAt: decided} }
	base := NewProfile("u1")
	for _, e := range []string{"same", "otherVariation", "otherTime", "sameMillisecond", "unexpected", "expiring"} {
		base.Assignments[e] = stored("a")
	}
	if err := m.Save(ctx, base); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute) // "expiring" is gone, the others live

	p := NewProfile("u1")
	for _, e := range []string{"same", "otherVariation", "otherTime", "sameMillisecond", "unexpected", "expiring", "new", "newExpected"} {
		p.Set(e, "b")
	}
	was := map[string]Assignment{
		"same":            stored("a"),
		"otherVariation":  stored("x"),
		"otherTime":       {VariationID: "a", DecidedAt: decided.Add(-time.Hour)},
		"sameMillisecond": {VariationID: "a", DecidedAt: decided.Add(999 * time.Microsecond)},
		"expiring":        stored("a"), // gone since: counts as none
		"newExpected":     stored("a"), // never stored: counts as none
		"notInP":          stored("z"),
	}
	won, err := m.SaveReplacing(ctx, p, was)
	if err != nil {
		t.Fatal(err)
	}
	wantWon := map[string]bool{"otherVariation": true, "otherTime": true, "unexpected": true}
	if len(won.Assignments) != len(wantWon) {
		t.Errorf("won %+v, want %v", won.Assignments, wantWon)
	}
	for e := range wantWon {
		if a := won.Assignments[e]; a.VariationID != "a" || !a.DecidedAt.Equal(decided) || a.ExpiresAt.IsZero() {
			t.Errorf("winner of %s = %+v, want the stored a with its times", e, a)
		}
	}
	got, _ := m.Lookup(ctx, "u1")
	for e := range p.Assignments {
		want := "b"
		if wantWon[e] {
			want = "a"
		}
		if v := variation(got, e); v != want {
			t.Errorf("%s = %q after SaveReplacing, want %q", e, v, want)
		}
	}
	if _, ok := got.Assignments["notInP"]; ok {
		t.Error("an entry of was for an experiment p does not hold was written")
	}
	if _, err := m.SaveReplacing(ctx, Profile{UserID: "u1", Assignments: map[string]Assignment{"": {VariationID: "b"}}}, nil); err == nil {
		t.Error("an invalid profile was accepted")
	}
}

// TestCacheStoresTheDecisionTimeItShows: an assignment saved through the
// cache without a DecidedAt is stamped once, by the cache, and stored with
// that time, so a replacement that names what the cache served is not
// refused by the store for a decision time it never held. The cache's
// clock runs apart from the store's here, as two clocks read at two
// moments do.
func TestCacheStoresTheDecisionTimeItShows(t *testing.T) {
	ctx := context.Background()
	storeClock := &clock{now: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	cacheClock := &clock{now: storeClock.Now().Add(3 * time.Millisecond)}
	store := newFake(t, MemoryOptions{Now: storeClock.Now})
	c, err := NewCache(store, CacheOptions{Size: 10, TTL: time.Hour, Now: cacheClock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for name, write := range map[string]func(p Profile) error{
		"Save":          func(p Profile) error { return c.Save(ctx, p) },
		"SaveFirst":     func(p Profile) error { _, err := c.SaveFirst(ctx, p); return err },
		"SaveReplacing": func(p Profile) error { _, err := c.SaveReplacing(ctx, p, nil); return err },
	} {
		user := "u-" + name
		if _, err := c.Lookup(ctx, user); err != nil { // cached, so the write merges into it
			t.Fatal(err)
		}
		if err := write(oneAssignment(user, "e1", "a")); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		served, ok, err := c.LookupAssignment(ctx, user, "e1")
		if err != nil || !ok {
			t.Fatalf("%s: LookupAssignment = %v, %v", name, ok, err)
		}
		held, _, _ := store.Memory.LookupAssignment(ctx, user, "e1")
		if !held.DecidedAt.Equal(served.DecidedAt) {
			t.Errorf("%s: the cache serves e1 decided at %v, the store holds %v", name, served.DecidedAt, held.DecidedAt)
		}
		won, err := c.SaveReplacing(ctx, oneAssignment(user, "e1", "b"), map[string]Assignment{"e1": served})
		if err != nil || !won.Empty() {
			t.Errorf("%s: replacing what the cache served = %+v, %v; want it written", name, won.Assignments, err)
		}
	}
}

// TestCacheSaveReplacingMergesWrittenAndWinners: the cache shows what the
// store kept, whether its write or the assignment that won over it.
func TestCacheSaveReplacingMergesWrittenAndWinners(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	p := NewProfile("u1")
	p.Set("e1", "v1")
	p.Set("e2", "v2")
	_ = store.Memory.Save(ctx, p)
	c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Hour})
	read, _ := c.Lookup(ctx, "u1")
	// Another server replaces e2 behind the cache's back.
	_ = store.Memory.Save(ctx, oneAssignment("u1", "e2", "theirs"))
	mine := NewProfile("u1")
	mine.Set("e1", "ours")
	mine.Set("e2", "ours")
	won, err := c.SaveReplacing(ctx, mine, read.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	if variation(won, "e2") != "theirs" || len(won.Assignments) != 1 {
		t.Fatalf("SaveReplacing winners = %+v, want e2=theirs", won.Assignments)
	}
	mustVariation(t, c, "u1", "e1", "ours")
	mustVariation(t, c, "u1", "e2", "theirs")
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store reads, want 1: the outcome is merged into the cache", n)
	}
	store.failSaves.Store(1)
	if _, err := c.SaveReplacing(ctx, oneAssignment("u1", "e1", "x"), nil); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("SaveReplacing on a failing store = %v", err)
	}
	mustVariation(t, c, "u1", "e1", "ours")
	if n := store.lookups.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2: a failed write forgets the cached user", n)
	}
}

// TestAsyncSaverSaveReplacingRunsInTheUsersOrder: a replacement waits for
// the user's saves accepted before it, so it compares with what they
// wrote, not with what the store held when it was called.
func TestAsyncSaverSaveReplacingRunsInTheUsersOrder(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	_ = store.Memory.Save(ctx, oneAssignment("u1", "e1", "read"))
	read, _, _ := store.Memory.LookupAssignment(ctx, "u1", "e1")
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{})
	defer closeAsync(t, a)
	mustSave(t, a, oneAssignment("u1", "e1", "queued"))
	inflight := g.expect(t, "save u1 e1=queued")
	done := make(chan result, 1)
	go func() {
		p := NewProfile("u1")
		p.Set("e1", "mine")
		p.Set("e2", "mine")
		won, err := a.SaveReplacing(ctx, p, map[string]Assignment{"e1": read})
		done <- result{won, err}
	}()
	eventually(t, "SaveReplacing to queue behind the save", func() bool {
		ov, _ := a.overlayOf("u1")
		return len(ov.set) == 1 // the replacement of e1 loses to the queued save: nothing more to show
	})
	inflight.let()
	g.expect(t, "save u1 e1=mine e2=mine").let()
	r := <-done
	if r.err != nil || variation(r.p, "e1") != "queued" || len(r.p.Assignments) != 1 {
		t.Fatalf("SaveReplacing = %+v, %v; want the queued save to win e1", r.p.Assignments, r.err)
	}
	mustVariation(t, store.Memory, "u1", "e1", "queued")
	mustVariation(t, store.Memory, "u1", "e2", "mine")
	if n := store.replacings.Load(); n != 1 {
		t.Fatalf("%d replacing writes reached the store, want 1", n)
	}
}

// TestBreakerAndObservedPassSaveReplacing: the breaker refuses it while
// open and counts its failures; Observed reports it under its own name.
func TestBreakerAndObservedPassSaveReplacing(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	var ops []string
	o, err := NewObserved(store, func(op string, _ time.Duration, _ error) { ops = append(ops, op) })
	if err != nil {
		t.Fatal(err)
	}
	b := newBreaker(t, o, BreakerOptions{Failures: 1, OpenFor: time.Hour})
	if won, err := b.SaveReplacing(ctx, oneAssignment("u1", "e1", "v"), nil); err != nil || !won.Empty() {
		t.Fatalf("SaveReplacing = %+v, %v", won.Assignments, err)
	}
	store.failSaves.Store(1)
	if _, err := b.SaveReplacing(ctx, oneAssignment("u1", "e1", "w"), nil); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("SaveReplacing on a failing store = %v, want its error", err)
	}
	if _, err := b.SaveReplacing(ctx, oneAssignment("u1", "e1", "w"), nil); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("SaveReplacing on an open breaker = %v, want ErrCircuitOpen", err)
	}
	if n := store.replacings.Load(); n != 2 {
		t.Fatalf("%d calls reached the store, want 2", n)
	}
	if want := []string{OpSaveReplacing, OpSaveReplacing}; len(ops) != 2 || ops[0] != want[0] || ops[1] != want[1] {
		t.Fatalf("observed %v, want %v", ops, want)
	}
}
