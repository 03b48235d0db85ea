package ups

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingStore wraps Memory, counting calls and failing on demand.
type countingStore struct {
	*Memory
	lookups, saves atomic.Int64
	fail           atomic.Bool
	block          chan struct{} // when set, Save waits on it
}

var errStoreDown = errors.New("store down")

func (s *countingStore) Lookup(ctx context.Context, id string) (Profile, error) {
	s.lookups.Add(1)
	if s.fail.Load() {
		return Profile{}, errStoreDown
	}
	return s.Memory.Lookup(ctx, id)
}

func (s *countingStore) Save(ctx context.Context, p Profile) error {
	s.saves.Add(1)
	if s.block != nil {
		<-s.block
	}
	if s.fail.Load() {
		return errStoreDown
	}
	return s.Memory.Save(ctx, p)
}

func newCounting(t *testing.T) *countingStore {
	m, err := NewMemory(MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &countingStore{Memory: m}
}

func TestCacheReadsThroughOnceAndMergesSaves(t *testing.T) {
	ctx := context.Background()
	store := newCounting(t)
	c, err := NewCache(store, CacheOptions{Size: 10, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Lookup(ctx, "u1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.lookups.Load(); n != 1 {
		t.Fatalf("%d store lookups for 3 cached lookups, want 1", n)
	}
	p := NewProfile("u1")
	p.Set("e1", "v1")
	if err := c.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Lookup(ctx, "u1")
	if v, _ := got.Variation("e1"); v != "v1" || store.lookups.Load() != 1 {
		t.Fatalf("after save, cached lookup = %+v with %d store lookups; want e1=v1 from cache", got, store.lookups.Load())
	}
	got.Assignments["e1"] = Assignment{VariationID: "mutated"}
	again, _ := c.Lookup(ctx, "u1")
	if v, _ := again.Variation("e1"); v != "v1" {
		t.Fatalf("caller mutated the cache: e1 = %q", v)
	}
	if err := c.Delete(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	if got, _ := c.Lookup(ctx, "u1"); !got.Empty() {
		t.Fatalf("after Delete, Lookup = %+v", got)
	}
}

func TestCacheDoesNotCacheErrorsOrFailedSaves(t *testing.T) {
	ctx := context.Background()
	store := newCounting(t)
	c, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Minute})
	store.fail.Store(true)
	if _, err := c.Lookup(ctx, "u1"); !errors.Is(err, errStoreDown) {
		t.Fatalf("Lookup = %v, want the store error", err)
	}
	store.fail.Store(false)
	if _, err := c.Lookup(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	store.fail.Store(true)
	p := NewProfile("u1")
	p.Set("e1", "v1")
	if err := c.Save(ctx, p); !errors.Is(err, errStoreDown) {
		t.Fatalf("Save = %v, want the store error", err)
	}
	if got, _ := c.Lookup(ctx, "u1"); !got.Empty() {
		t.Fatalf("a failed save reached the cache: %+v", got)
	}
}

func TestCacheExpiresEntriesAndAssignments(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m, _ := NewMemory(MemoryOptions{Retention: Retention{Default: time.Second}, Now: clk.Now})
	c, _ := NewCache(m, CacheOptions{Size: 10, TTL: time.Hour, Now: clk.Now})
	p := NewProfile("u1")
	p.Set("e1", "v1")
	_ = m.Save(ctx, p)
	if got, _ := c.Lookup(ctx, "u1"); got.Empty() {
		t.Fatal("assignment missing")
	}
	clk.Advance(2 * time.Second)
	if got, _ := c.Lookup(ctx, "u1"); !got.Empty() {
		t.Fatalf("cache served an expired assignment: %+v", got)
	}
}

func TestNewCacheValidates(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	for _, o := range []CacheOptions{{Size: 0, TTL: time.Second}, {Size: 1, TTL: 0}} {
		if _, err := NewCache(m, o); err == nil {
			t.Errorf("NewCache(%+v) succeeded", o)
		}
	}
	if _, err := NewCache(nil, CacheOptions{Size: 1, TTL: time.Second}); err == nil {
		t.Error("NewCache(nil) succeeded")
	}
}

func TestAsyncSaverWritesInBackgroundAndDrainsOnClose(t *testing.T) {
	ctx := context.Background()
	store := newCounting(t)
	a, err := NewAsyncSaver(store, AsyncOptions{QueueSize: 200, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := a.Save(ctx, oneAssignment("u1", "e"+strconv.Itoa(i), "v")); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// Close closed the store too; Profiles still reads what it holds.
	got := store.Profiles()[0]
	if len(got.Assignments) != 100 {
		t.Fatalf("%d assignments saved after Close, want 100", len(got.Assignments))
	}
	if err := a.Save(ctx, oneAssignment("u1", "e", "v")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v, want ErrClosed", err)
	}
}

func TestAsyncSaverRejectsBadInputAndReportsFullQueueAndFailures(t *testing.T) {
	ctx := context.Background()
	store := newCounting(t)
	store.block = make(chan struct{})
	var mu sync.Mutex
	var failed []string
	a, _ := NewAsyncSaver(store, AsyncOptions{QueueSize: 1, Workers: 1, OnError: func(p Profile, err error) {
		mu.Lock()
		defer mu.Unlock()
		failed = append(failed, p.UserID+": "+err.Error())
	}})
	if err := a.Save(ctx, Profile{UserID: ""}); !errors.Is(err, ErrInvalidProfile) {
		t.Fatalf("Save(invalid) = %v, want ErrInvalidProfile now, not in the background", err)
	}
	// The worker takes the first save and blocks in the store; the second
	// fills the queue; the third has nowhere to go.
	if err := a.Save(ctx, oneAssignment("u1", "e", "v")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for store.saves.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if err := a.Save(ctx, oneAssignment("u2", "e", "v")); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, oneAssignment("u3", "e", "v")); !errors.Is(err, ErrSaveQueueFull) {
		t.Fatalf("Save with a full queue = %v, want ErrSaveQueueFull", err)
	}
	store.fail.Store(true)
	close(store.block)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if len(failed) != 2 {
		t.Fatalf("OnError saw %v, want the 2 queued saves failing", failed)
	}
}

// oneAssignment is a test shorthand for a one-assignment profile.
func oneAssignment(userID, expID, varID string) Profile {
	p := NewProfile(userID)
	p.Set(expID, varID)
	return p
}

func TestLayersLookupExperiments(t *testing.T) {
	ctx := context.Background()
	store := newCounting(t)
	p := NewProfile("u1")
	for _, e := range []string{"a", "b", "c"} {
		p.Set(e, "v-"+e)
	}
	if err := store.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	cache, _ := NewCache(store, CacheOptions{Size: 10, TTL: time.Minute})
	async, _ := NewAsyncSaver(store, AsyncOptions{})
	defer async.Close(ctx)
	for name, s := range map[string]ScopedLookuper{"cache": cache, "async": async} {
		for range 2 {
			got, err := s.LookupExperiments(ctx, "u1", []string{"a", "c", "zz"})
			if err != nil {
				t.Fatal(err)
			}
			if keys := sortedKeys(got.Assignments); fmt.Sprint(keys) != "[a c]" {
				t.Errorf("%s: LookupExperiments = %v, want [a c]", name, keys)
			}
		}
	}
	// The cache read the whole profile once and then served both scoped
	// calls; the async saver went through every time.
	if n := store.lookups.Load(); n != 1 {
		t.Errorf("%d full store lookups, want 1 (the cache's miss)", n)
	}
}
