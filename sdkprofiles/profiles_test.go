package sdkprofiles_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/sdkprofiles"
	"github.com/stickybucket/stickybucket/ups"
)

// clock is a movable time.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// counting counts the saves that reach the store underneath.
type counting struct {
	*ups.Memory
	saves, firsts, replacings atomic.Int32
	failLookups               bool
}

func (c *counting) Save(ctx context.Context, p ups.Profile) error {
	c.saves.Add(1)
	return c.Memory.Save(ctx, p)
}

func (c *counting) SaveFirst(ctx context.Context, p ups.Profile) (ups.Profile, error) {
	c.firsts.Add(1)
	return c.Memory.SaveFirst(ctx, p)
}

func (c *counting) SaveReplacing(ctx context.Context, p ups.Profile, was map[string]ups.Assignment) (ups.Profile, error) {
	c.replacings.Add(1)
	return c.Memory.SaveReplacing(ctx, p, was)
}

func (c *counting) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	if c.failLookups {
		return ups.Profile{}, ups.ErrUnavailable
	}
	return c.Memory.Lookup(ctx, userID)
}

func (c *counting) LookupExperiments(ctx context.Context, userID string, ids []string) (ups.Profile, error) {
	if c.failLookups {
		return ups.Profile{}, ups.ErrUnavailable
	}
	return c.Memory.LookupExperiments(ctx, userID, ids)
}

func newStore(t *testing.T, clk *clock, retention time.Duration) *counting {
	t.Helper()
	m, err := ups.NewMemory(ups.MemoryOptions{Retention: ups.Retention{Default: retention}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return &counting{Memory: m}
}

func profile(user string, kv ...string) ups.Profile {
	p := ups.NewProfile(user)
	for i := 0; i < len(kv); i += 2 {
		p.Set(kv[i], kv[i+1])
	}
	return p
}

func TestSaveWritesOnlyWhatChanged(t *testing.T) {
	ctx := context.Background()
	clk := &clock{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	store := newStore(t, clk, 30*24*time.Hour)
	s, err := sdkprofiles.New(store, sdkprofiles.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Save(ctx, profile("u", "e1", "v1", "e2", "v2"), sdkprofiles.SaveChanged)
	if err != nil || res != (sdkprofiles.SaveResult{Written: 2}) || store.saves.Load() != 1 {
		t.Fatalf("first save: %+v, %v, %d store saves; want 2 written in one save", res, err, store.saves.Load())
	}
	decided := clk.t
	clk.t = clk.t.Add(time.Hour)
	// The SDK sends the whole profile again, with nothing changed.
	res, err = s.Save(ctx, profile("u", "e1", "v1", "e2", "v2"), sdkprofiles.SaveChanged)
	if err != nil || res != (sdkprofiles.SaveResult{Unchanged: 2}) || store.saves.Load() != 1 {
		t.Fatalf("unchanged save: %+v, %v, %d store saves; want no write", res, err, store.saves.Load())
	}
	// A new experiment and a changed variation: two entries, one write.
	res, err = s.Save(ctx, profile("u", "e1", "v1", "e2", "v2b", "e3", "v3"), sdkprofiles.SaveChanged)
	if err != nil || res != (sdkprofiles.SaveResult{Written: 2, Unchanged: 1}) || store.saves.Load() != 2 {
		t.Fatalf("changed save: %+v, %v, %d store saves", res, err, store.saves.Load())
	}
	p, _ := store.Memory.Lookup(ctx, "u")
	if got := p.Assignments["e1"]; got.VariationID != "v1" || !got.DecidedAt.Equal(decided) {
		t.Errorf("e1 = %+v; want v1 still decided at %s (retention not restarted)", got, decided)
	}
	if got := p.Assignments["e2"].VariationID; got != "v2b" {
		t.Errorf("e2 = %q, want the changed variation v2b", got)
	}
}

func TestSaveRefreshesWithinRefreshAfter(t *testing.T) {
	ctx := context.Background()
	clk := &clock{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	store := newStore(t, clk, 30*24*time.Hour)
	s, err := sdkprofiles.New(store, sdkprofiles.Options{RefreshAfter: 7 * 24 * time.Hour, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	decided := clk.t
	if _, err := s.Save(ctx, profile("u", "e1", "v1"), sdkprofiles.SaveChanged); err != nil {
		t.Fatal(err)
	}
	clk.t = decided.Add(22 * 24 * time.Hour) // 8 days left: not due
	if res, _ := s.Save(ctx, profile("u", "e1", "v1"), sdkprofiles.SaveChanged); res.Written != 0 {
		t.Fatalf("save with 8 days left wrote %d; want 0", res.Written)
	}
	clk.t = decided.Add(24 * 24 * time.Hour) // 6 days left: due
	if res, _ := s.Save(ctx, profile("u", "e1", "v1"), sdkprofiles.SaveChanged); res.Written != 1 {
		t.Fatalf("save with 6 days left wrote %d; want 1 refresh", res.Written)
	}
	a, ok, _ := store.Memory.LookupAssignment(ctx, "u", "e1")
	if !ok || !a.DecidedAt.Equal(decided) || !a.ExpiresAt.Equal(clk.t.Add(30*24*time.Hour)) {
		t.Fatalf("refreshed assignment %+v; want decided at %s, expiring 30 days from now", a, decided)
	}
}

// TestLookupRefreshesDueAssignments: a returning user's SDK only looks
// up; the lookup slides the retention of what is due.
func TestLookupRefreshesDueAssignments(t *testing.T) {
	ctx := context.Background()
	clk := &clock{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	store := newStore(t, clk, 30*24*time.Hour)
	s, _ := sdkprofiles.New(store, sdkprofiles.Options{RefreshAfter: 7 * 24 * time.Hour, Now: clk.now})
	decided := clk.t
	if _, err := s.Save(ctx, profile("u", "e1", "v1"), sdkprofiles.SaveChanged); err != nil {
		t.Fatal(err)
	}
	clk.t = decided.Add(10 * 24 * time.Hour)
	if _, err := s.Lookup(ctx, "u"); err != nil || store.saves.Load() != 1 {
		t.Fatalf("lookup with 20 days left: %v, %d saves; want no write", err, store.saves.Load())
	}
	clk.t = decided.Add(25 * 24 * time.Hour)
	p, err := s.Lookup(ctx, "u")
	if err != nil || p.Assignments["e1"].VariationID != "v1" || store.saves.Load() != 2 {
		t.Fatalf("lookup with 5 days left: %+v, %v, %d saves; want v1 and one refresh", p, err, store.saves.Load())
	}
	a, _, _ := store.Memory.LookupAssignment(ctx, "u", "e1")
	if !a.DecidedAt.Equal(decided) || !a.ExpiresAt.Equal(clk.t.Add(30*24*time.Hour)) {
		t.Fatalf("after the refresh: %+v; want decided at %s, expiring 30 days from now", a, decided)
	}
}

func TestResetHidesAndReplaces(t *testing.T) {
	ctx := context.Background()
	clk := &clock{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	store := newStore(t, clk, 0)
	if err := store.Memory.Save(ctx, profile("u", "e1", "old", "e2", "keep")); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Hour)
	s, err := sdkprofiles.New(store, sdkprofiles.Options{Resets: map[string]time.Time{"e1": clk.t.Add(-time.Minute)}, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Lookup(ctx, "u")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Assignments["e1"]; ok || p.Assignments["e2"].VariationID != "keep" {
		t.Fatalf("lookup after reset = %+v; want e1 hidden, e2 kept", p.Assignments)
	}
	// The SDK re-buckets into the same variation by chance: still written,
	// so the assignment is no longer older than the reset.
	if res, err := s.Save(ctx, profile("u", "e1", "old", "e2", "keep"), sdkprofiles.SaveChanged); err != nil || res.Written != 1 || res.Unchanged != 1 {
		t.Fatalf("save after reset: %+v, %v; want e1 written again, e2 unchanged", res, err)
	}
	if p, _ := s.Lookup(ctx, "u"); p.Assignments["e1"].VariationID != "old" {
		t.Fatalf("after re-saving, lookup = %+v; want e1 visible again", p.Assignments)
	}
}

func TestSaveOnlyNewKeepsStoredVariations(t *testing.T) {
	ctx := context.Background()
	clk := &clock{time.Now()}
	store := newStore(t, clk, 0)
	s, _ := sdkprofiles.New(store, sdkprofiles.Options{Now: clk.now})
	if err := store.Memory.Save(ctx, profile("u", "e1", "sticky")); err != nil {
		t.Fatal(err)
	}
	// After a failed lookup the SDK bucketed afresh into "guess".
	res, err := s.Save(ctx, profile("u", "e1", "guess", "e2", "new"), sdkprofiles.SaveOnlyNew)
	if err != nil || res != (sdkprofiles.SaveResult{Written: 1, Unchanged: 1}) {
		t.Fatalf("only-new save: %+v, %v", res, err)
	}
	p, _ := store.Memory.Lookup(ctx, "u")
	if p.Assignments["e1"].VariationID != "sticky" || p.Assignments["e2"].VariationID != "new" {
		t.Fatalf("stored %+v; want e1 sticky kept, e2 new written", p.Assignments)
	}
	// With the store unreadable, only-new writes nothing; changed writes all.
	store.failLookups = true
	if _, err := s.Save(ctx, profile("u", "e1", "guess"), sdkprofiles.SaveOnlyNew); !ups.Unavailable(err) {
		t.Fatalf("only-new save with an unreadable store: %v; want an unavailable error", err)
	}
	if p, _ := store.Memory.Lookup(ctx, "u"); p.Assignments["e1"].VariationID != "sticky" {
		t.Fatal("only-new save with an unreadable store wrote over the sticky variation")
	}
	if res, err := s.Save(ctx, profile("u", "e3", "v3"), sdkprofiles.SaveChanged); err != nil || res.Written != 1 {
		t.Fatalf("changed save with an unreadable store: %+v, %v; want it written", res, err)
	}
}

func TestFirstWriterWins(t *testing.T) {
	ctx := context.Background()
	clk := &clock{time.Now()}
	store := newStore(t, clk, 0)
	s, err := sdkprofiles.New(store, sdkprofiles.Options{FirstWriterWins: true, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Save(ctx, profile("u", "e1", "a"), sdkprofiles.SaveChanged); err != nil || res.Written != 1 || store.firsts.Load() != 1 {
		t.Fatalf("first save: %+v, %v, %d conditional writes", res, err, store.firsts.Load())
	}
	// Another server wrote e2 between this server's read and its write:
	// the store says what was there first.
	racing := &racingStore{counting: store, before: func() { _ = store.Memory.Save(ctx, profile("u", "e2", "theirs")) }}
	s2, _ := sdkprofiles.New(racing, sdkprofiles.Options{FirstWriterWins: true, Now: clk.now})
	res, err := s2.Save(ctx, profile("u", "e1", "a", "e2", "mine"), sdkprofiles.SaveChanged)
	if err != nil || res != (sdkprofiles.SaveResult{Unchanged: 1, Lost: 1}) {
		t.Fatalf("racing save: %+v, %v; want e1 unchanged and e2 lost", res, err)
	}
	if p, _ := store.Memory.Lookup(ctx, "u"); p.Assignments["e2"].VariationID != "theirs" {
		t.Fatalf("stored e2 = %q; want the first writer's", p.Assignments["e2"].VariationID)
	}
	if _, err := sdkprofiles.New(plainStore{store.Memory}, sdkprofiles.Options{FirstWriterWins: true}); err == nil {
		t.Fatal("New with FirstWriterWins over a store without SaveFirst: no error")
	}
}

// racingStore runs before just ahead of each conditional write, as a
// second server would.
type racingStore struct {
	*counting
	before func()
}

func (r *racingStore) SaveFirst(ctx context.Context, p ups.Profile) (ups.Profile, error) {
	r.before()
	return r.counting.SaveFirst(ctx, p)
}

func (r *racingStore) SaveReplacing(ctx context.Context, p ups.Profile, was map[string]ups.Assignment) (ups.Profile, error) {
	r.before()
	return r.counting.SaveReplacing(ctx, p, was)
}

// TestFirstWriterWinsForChangedAndRefreshedEntries: under FirstWriterWins
// a changed entry, a reset one and a refresh (by Save or by Lookup) are
// written only if the store still holds what was read for them; when
// another server replaced the assignment between the read and the write,
// its variation stays, and a refresh does not write back the one it
// replaced.
func TestFirstWriterWinsForChangedAndRefreshedEntries(t *testing.T) {
	ctx := context.Background()
	day := 24 * time.Hour
	for _, tc := range []struct {
		name string
		// sdk is the entry the SDK saves for e1 ("" for a lookup).
		sdk  string
		opts sdkprofiles.Options
	}{
		{name: "changed entry", sdk: "mine"},
		{name: "entry reset", sdk: "stored", opts: sdkprofiles.Options{Resets: map[string]time.Time{"e1": time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}}},
		{name: "refresh by save", sdk: "stored", opts: sdkprofiles.Options{RefreshAfter: 3 * day}},
		{name: "refresh by lookup", opts: sdkprofiles.Options{RefreshAfter: 3 * day}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &clock{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
			store := newStore(t, clk, 10*day)
			if err := store.Memory.Save(ctx, profile("u", "e1", "stored", "e2", "kept")); err != nil {
				t.Fatal(err)
			}
			clk.t = clk.t.Add(8 * day) // due for a refresh, after the reset
			theirs := ups.Profile{UserID: "u", Assignments: map[string]ups.Assignment{"e1": {VariationID: "theirs", DecidedAt: clk.t}}}
			racing := &racingStore{counting: store, before: func() {
				if err := store.Memory.Save(ctx, theirs); err != nil {
					t.Error(err)
				}
			}}
			opts := tc.opts
			opts.FirstWriterWins, opts.Now = true, clk.now
			s, err := sdkprofiles.New(racing, opts)
			if err != nil {
				t.Fatal(err)
			}
			if tc.sdk == "" {
				p, err := s.Lookup(ctx, "u")
				if err != nil || p.Assignments["e1"].VariationID != "theirs" || p.Assignments["e2"].VariationID != "kept" {
					t.Fatalf("Lookup = %+v, %v; want the other writer's e1 and e2 kept", p.Assignments, err)
				}
			} else {
				res, err := s.Save(ctx, profile("u", "e1", tc.sdk, "e3", "new"), sdkprofiles.SaveChanged)
				if err != nil || res != (sdkprofiles.SaveResult{Written: 1, Lost: 1}) {
					t.Fatalf("Save = %+v, %v; want e3 written and e1 lost", res, err)
				}
			}
			if store.saves.Load() != 0 || store.firsts.Load() != 0 || store.replacings.Load() != 1 {
				t.Errorf("%d plain saves, %d first writes, %d replacing writes; want this server's writes conditional, in one", store.saves.Load(), store.firsts.Load(), store.replacings.Load())
			}
			if p, _ := store.Memory.Lookup(ctx, "u"); p.Assignments["e1"].VariationID != "theirs" {
				t.Fatalf("stored e1 = %q; want the other writer's", p.Assignments["e1"].VariationID)
			}
		})
	}
	firstOnly := struct {
		ups.Service
		ups.FirstWriter
	}{plainStore{newStore(t, &clock{}, 0).Memory}, newStore(t, &clock{}, 0).Memory}
	if _, err := sdkprofiles.New(firstOnly, sdkprofiles.Options{FirstWriterWins: true}); err == nil {
		t.Fatal("New with FirstWriterWins over a store without SaveReplacing: no error")
	}
}

// plainStore offers Lookup and Save only.
type plainStore struct{ m *ups.Memory }

func (p plainStore) Lookup(ctx context.Context, id string) (ups.Profile, error) {
	return p.m.Lookup(ctx, id)
}
func (p plainStore) Save(ctx context.Context, pr ups.Profile) error { return p.m.Save(ctx, pr) }

func TestSaveRejectsInvalidProfileWhole(t *testing.T) {
	clk := &clock{time.Now()}
	store := newStore(t, clk, 0)
	s, _ := sdkprofiles.New(store, sdkprofiles.Options{})
	_, err := s.Save(context.Background(), profile("u", "e1", "v1", "e2", ""), sdkprofiles.SaveChanged)
	if !errors.Is(err, ups.ErrInvalidProfile) || store.saves.Load() != 0 {
		t.Fatalf("invalid save: %v, %d writes; want ErrInvalidProfile and nothing written", err, store.saves.Load())
	}
}
