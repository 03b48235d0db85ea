package ups

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// lookupAsync starts a lookup through s and returns where its answer lands.
func lookupAsync(ctx context.Context, s Service, userID string) <-chan result {
	ch := make(chan result, 1)
	go func() {
		p, err := s.Lookup(ctx, userID)
		ch <- result{p, err}
	}()
	return ch
}

func TestCacheDoesNotCacheAReadThatRacedWithAWrite(t *testing.T) {
	ctx := context.Background()
	old := Assignment{VariationID: "old", DecidedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	writes := map[string]func(c *Cache) error{
		"save": func(c *Cache) error { return c.Save(ctx, oneAssignment("u1", "e1", "new")) },
		"save first": func(c *Cache) error {
			_, err := c.SaveFirst(ctx, oneAssignment("u1", "e1", "new"))
			return err
		},
		"save replacing": func(c *Cache) error {
			_, err := c.SaveReplacing(ctx, oneAssignment("u1", "e1", "new"), map[string]Assignment{"e1": old})
			return err
		},
		"delete": func(c *Cache) error { return c.Delete(ctx, "u1") },
	}
	for name, write := range writes {
		t.Run(name+" finished during the read", func(t *testing.T) {
			store := newFake(t, MemoryOptions{})
			if name != "save first" { // SaveFirst must find e1 free to write it
				_ = store.Memory.Save(ctx, Profile{UserID: "u1", Assignments: map[string]Assignment{"e1": old}})
			}
			c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Hour})
			g := newGate()
			store.lookupGate.Store(g)
			read := lookupAsync(ctx, c, "u1")
			held := g.waitEntered(t) // the read holds what the store had before the write
			if err := write(c); err != nil {
				t.Fatal(err)
			}
			held.let()
			if r := <-read; r.err != nil {
				t.Fatal(r.err)
			}
			store.lookupGate.Store(nil)
			want := "new"
			if name == "delete" {
				want = ""
			}
			mustVariation(t, c, "u1", "e1", want)
		})
	}
	t.Run("save still running when the read ended", func(t *testing.T) {
		store := newFake(t, MemoryOptions{})
		c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Hour})
		lg, sg := newGate(), newGate()
		store.lookupGate.Store(lg)
		store.saveGate.Store(sg)
		read := lookupAsync(ctx, c, "u1")
		read1 := lg.waitEntered(t)
		saved := make(chan error, 1)
		go func() { saved <- c.Save(ctx, oneAssignment("u1", "e1", "new")) }()
		save1 := sg.waitEntered(t)
		read1.let()
		if r := <-read; r.err != nil {
			t.Fatal(r.err)
		}
		// The save failed in the store: nothing of it may be served.
		store.failSaves.Store(1)
		save1.let()
		if err := <-saved; !Unavailable(err) {
			t.Fatalf("Save = %v, want the store's unavailable error", err)
		}
		store.lookupGate.Store(nil)
		mustVariation(t, c, "u1", "e1", "")
		if st := c.Stats(); st.Uncached != 1 {
			t.Fatalf("stats %+v: want the racing read uncached", st)
		}
	})
}

func TestCacheSharesOneReadBetweenConcurrentMisses(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	_ = store.Memory.Save(ctx, oneAssignment("u1", "e1", "v1"))
	c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Hour})
	g := newGate()
	store.lookupGate.Store(g)
	const callers = 50
	results := make(chan result, callers)
	for range callers {
		go func() {
			p, err := c.Lookup(ctx, "u1")
			results <- result{p, err}
		}()
	}
	g.waitEntered(t)
	eventually(t, "every caller to miss", func() bool { return c.Stats().Misses == callers })
	g.open()
	var got []Profile
	for range callers {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		got = append(got, r.p)
	}
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store reads for %d concurrent misses, want 1", n, callers)
	}
	got[0].Assignments["e1"] = Assignment{VariationID: "mutated"}
	for i, p := range got[1:] {
		if v := variation(p, "e1"); v != "v1" {
			t.Fatalf("caller %d sees e1=%q: callers share a profile", i+1, v)
		}
	}
	mustVariation(t, c, "u1", "e1", "v1")
}

func TestCacheCallersWaitOnlyForTheirOwnContext(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	_ = store.Memory.Save(ctx, oneAssignment("u1", "e1", "v1"))
	c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Hour})
	g := newGate()
	store.lookupGate.Store(g)

	leaderCtx, cancelLeader := context.WithCancel(ctx)
	leader := lookupAsync(leaderCtx, c, "u1")
	g.waitEntered(t)

	// A follower whose context ends stops waiting at once.
	followerCtx, cancelFollower := context.WithCancel(ctx)
	follower := lookupAsync(followerCtx, c, "u1")
	eventually(t, "the follower to miss", func() bool { return c.Stats().Misses == 2 })
	cancelFollower()
	if r := <-follower; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled follower = %v, want context.Canceled", r.err)
	}

	// The leader goes away too: the read is not its own, and goes on.
	patient := lookupAsync(ctx, c, "u1")
	eventually(t, "the patient follower to miss", func() bool { return c.Stats().Misses == 3 })
	cancelLeader()
	if r := <-leader; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled leader = %v, want context.Canceled", r.err)
	}
	g.open()
	if r := <-patient; r.err != nil || variation(r.p, "e1") != "v1" {
		t.Fatalf("patient follower = %+v, %v; want e1=v1", r.p, r.err)
	}
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store reads for three callers of one miss, want 1", n)
	}
}

// TestCacheSlowReadFillsTheCache: a caller whose budget runs out during a
// slow store read gets its deadline at once, but the read goes on and
// fills the cache, so the user's next decision is sticky without asking
// the store again.
func TestCacheSlowReadFillsTheCache(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	_ = store.Memory.Save(ctx, oneAssignment("u1", "e1", "v1"))
	c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Hour})
	g := newGate()
	store.lookupGate.Store(g)

	budget, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	slow := lookupAsync(budget, c, "u1")
	read := g.waitEntered(t)
	if r := <-slow; !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("lookup past its budget = %+v, %v; want context.DeadlineExceeded", r.p, r.err)
	}
	read.let() // the store answers after the caller gave up
	eventually(t, "the late read to fill the cache", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.lru.Contains("u1")
	})
	store.lookupGate.Store(nil)
	a, ok, err := c.LookupAssignment(ctx, "u1", "e1")
	if err != nil || !ok || a.VariationID != "v1" {
		t.Fatalf("next lookup = %+v, %v, %v; want v1", a, ok, err)
	}
	if st := c.Stats(); st.StoreReads != 1 || st.Hits != 1 {
		t.Fatalf("stats %+v; want the one late read and a hit", st)
	}
}

func TestCacheEntriesExpireOnTheCacheClock(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := newFake(t, MemoryOptions{Now: clk.Now})
	c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Minute, Now: clk.Now})
	_, _ = c.Lookup(ctx, "u1")
	clk.Advance(time.Minute - time.Second)
	_, _ = c.Lookup(ctx, "u1")
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store reads within the TTL, want 1", n)
	}
	clk.Advance(time.Second)
	_, _ = c.Lookup(ctx, "u1")
	if n := store.lookups.Load(); n != 2 {
		t.Fatalf("%d store reads once the TTL passed on the cache's clock, want 2", n)
	}
	if st := c.Stats(); st.Hits != 1 || st.Misses != 2 || st.StoreReads != 2 {
		t.Fatalf("stats %+v, want 1 hit, 2 misses, 2 store reads", st)
	}
}

func TestCacheStampsMergedAssignmentsWithTheStoreRetention(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	ret := Retention{Default: time.Hour, PerExperiment: map[string]time.Duration{"forever": 0}}
	store := newFake(t, MemoryOptions{Retention: ret, Now: clk.Now})
	c, _ := NewCache(store, CacheOptions{Size: 10, TTL: 24 * time.Hour, Now: clk.Now, Retention: ret})
	_, _ = c.Lookup(ctx, "u1") // cache the empty profile
	decided := clk.Now().Add(-time.Minute)
	p := NewProfile("u1")
	p.Assignments["e1"] = Assignment{VariationID: "v1", DecidedAt: decided}
	p.Set("forever", "v2")
	if err := c.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	a, ok, err := c.LookupAssignment(ctx, "u1", "e1")
	if err != nil || !ok {
		t.Fatalf("LookupAssignment = %v, %v", ok, err)
	}
	if want := clk.Now().Add(time.Hour); !a.ExpiresAt.Equal(want) || !a.DecidedAt.Equal(decided) {
		t.Fatalf("merged assignment %+v, want DecidedAt %s and ExpiresAt %s", a, decided, want)
	}
	if a, _, _ := c.LookupAssignment(ctx, "u1", "forever"); !a.ExpiresAt.IsZero() || !a.DecidedAt.Equal(clk.Now()) {
		t.Fatalf("assignment with zero retention %+v, want no expiry and DecidedAt now", a)
	}
	clk.Advance(time.Hour)
	if _, ok, _ := c.LookupAssignment(ctx, "u1", "e1"); ok {
		t.Fatal("the cache served an assignment past its retention")
	}
	got, _ := c.Lookup(ctx, "u1")
	if variation(got, "e1") != "" || variation(got, "forever") != "v2" {
		t.Fatalf("Lookup after the retention = %+v, want only the assignment kept forever", got.Assignments)
	}
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store reads, want 1: merged saves are served from the cache", n)
	}
}

func TestCacheSaveFirstMergesWrittenAndWinners(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	_ = store.Memory.Save(ctx, oneAssignment("u1", "e1", "v1"))
	c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Hour})
	_, _ = c.Lookup(ctx, "u1")
	// Another server wins e2 behind the cache's back.
	_ = store.Memory.Save(ctx, oneAssignment("u1", "e2", "theirs"))
	p := NewProfile("u1")
	p.Set("e2", "ours")
	p.Set("e3", "ours")
	won, err := c.SaveFirst(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if variation(won, "e2") != "theirs" || len(won.Assignments) != 1 {
		t.Fatalf("SaveFirst winners = %+v, want e2=theirs", won.Assignments)
	}
	mustVariation(t, c, "u1", "e2", "theirs")
	mustVariation(t, c, "u1", "e3", "ours")
	mustVariation(t, c, "u1", "e1", "v1")
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store reads, want 1", n)
	}
}

func TestCacheLookupAssignmentHitAllocatesNothing(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{Retention: Retention{Default: time.Hour}})
	p := NewProfile("u1")
	for _, e := range []string{"e1", "e2", "e3"} {
		p.Set(e, "v")
	}
	_ = m.Save(ctx, p)
	c, _ := NewCache(m, CacheOptions{Size: 10, TTL: time.Hour})
	if _, ok, err := c.LookupAssignment(ctx, "u1", "e2"); err != nil || !ok {
		t.Fatalf("warm-up: %v %v", ok, err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, ok, err := c.LookupAssignment(ctx, "u1", "e2"); err != nil || !ok {
			t.Fatalf("hit: %v %v", ok, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("LookupAssignment hit allocates %.1f times, want 0", allocs)
	}
}

func TestCacheStartsNoGoroutineAndCloses(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{})
	c, err := NewCache(m, CacheOptions{Size: 10, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Lookup(ctx, "u1")
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Lookup(ctx, "u1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup after Close = %v, want ErrClosed", err)
	}
	if err := c.Save(ctx, oneAssignment("u1", "e", "v")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v, want ErrClosed", err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if _, err := m.Lookup(ctx, "u1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close did not close the store: Lookup = %v", err)
	}
}

func TestCacheNamesMissingCapabilities(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{})
	c, _ := NewCache(lookupOnly{m}, CacheOptions{Size: 10, TTL: time.Hour})
	if err := c.Delete(ctx, "u1"); err == nil || !strings.Contains(err.Error(), "not a Deleter") {
		t.Fatalf("Delete over a store that cannot = %v", err)
	}
	if _, err := c.SaveFirst(ctx, oneAssignment("u1", "e", "v")); err == nil || !strings.Contains(err.Error(), "not a FirstWriter") {
		t.Fatalf("SaveFirst over a store that cannot = %v", err)
	}
}
