package ups

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// newAsync builds a saver over store whose tests finish fast: retries
// wait a millisecond.
func newAsync(t *testing.T, store Service, opts AsyncOptions) *AsyncSaver {
	t.Helper()
	if opts.RetryInitial == 0 {
		opts.RetryInitial = time.Millisecond
		opts.RetryMax = 2 * time.Millisecond
	}
	a, err := NewAsyncSaver(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// closeAsync closes a and fails the test if Close does. Its deadline
// keeps a failed test whose store calls are still held from hanging.
func closeAsync(t *testing.T, a *AsyncSaver) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func mustSave(t *testing.T, s Service, p Profile) {
	t.Helper()
	if err := s.Save(context.Background(), p); err != nil {
		t.Fatalf("Save(%s): %v", describe(p), err)
	}
}

func TestAsyncSaverKeepsEachUsersOrderAndCoalesces(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{Workers: 4})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	first := g.expect(t, "save u1 e1=v1")
	// v1 is being written: the next saves wait behind it, merged into one.
	mustSave(t, a, oneAssignment("u1", "e1", "v2"))
	mustSave(t, a, oneAssignment("u1", "e2", "w"))
	mustSave(t, a, oneAssignment("u1", "e1", "v3"))
	if st := a.Stats(); st.Coalesced != 2 || st.QueueDepth != 1 || st.Pending != 4 {
		t.Fatalf("stats %+v: want 2 coalesced, 1 user queued, 4 pending", st)
	}
	first.let()
	g.expect(t, "save u1 e1=v3 e2=w").let()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if store.overlapped() {
		t.Fatal("two saves of one user ran at once")
	}
	got, _ := store.Memory.Lookup(ctx, "u1")
	if variation(got, "e1") != "v3" || variation(got, "e2") != "w" {
		t.Fatalf("stored %+v, want e1=v3 e2=w", got.Assignments)
	}
	if st := a.Stats(); st.Written != 4 || st.StoreWrites != 2 || st.Pending != 0 || st.QueueDepth != 0 {
		t.Fatalf("stats %+v: want 4 written in 2 store writes", st)
	}
	closeAsync(t, a)
}

// TestAsyncSaverOrderUnderLoad has many users saved concurrently, each by
// its own goroutine in sequence, and checks that the store saw each user's
// saves in that sequence and kept the last.
func TestAsyncSaverOrderUnderLoad(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	store.failSaves.Store(20) // a few transient failures along the way
	a := newAsync(t, store, AsyncOptions{Workers: 4, QueueSize: 8, FullWait: time.Minute})
	const users, versions = 40, 25
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			for v := range versions {
				p := NewProfile("u" + strconv.Itoa(u))
				p.Set("e", strconv.Itoa(v))
				if v%3 == 0 {
					p.Set("e"+strconv.Itoa(v), "x")
				}
				if err := a.Save(ctx, p); err != nil {
					t.Errorf("Save: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if store.overlapped() {
		t.Fatal("two saves of one user ran at once")
	}
	last := map[string]int{}
	for _, p := range store.writes() {
		v, _ := strconv.Atoi(variation(p, "e"))
		if prev, ok := last[p.UserID]; ok && v <= prev {
			t.Fatalf("user %s: the store got version %d after %d", p.UserID, v, prev)
		}
		last[p.UserID] = v
	}
	for u := range users {
		mustVariation(t, store.Memory, "u"+strconv.Itoa(u), "e", strconv.Itoa(versions-1))
	}
	st := a.Stats()
	if st.Accepted != users*versions || st.Written != st.Accepted || st.Pending != 0 || st.Retried != 20 {
		t.Fatalf("stats %+v: want %d saves, all written, 20 retried", st, users*versions)
	}
	t.Logf("%d saves accepted (%d coalesced) in %d store writes", st.Accepted, st.Coalesced, st.StoreWrites)
	closeAsync(t, a)
}

func TestAsyncSaverRetriesWhileTheStoreIsUnavailable(t *testing.T) {
	ctx := context.Background()
	t.Run("rides out transient failures, newer saves waiting behind", func(t *testing.T) {
		store := newFake(t, MemoryOptions{})
		g := newGate()
		store.saveGate.Store(g)
		store.failSaves.Store(2)
		var onError atomic.Int64
		a := newAsync(t, store, AsyncOptions{OnError: func(Profile, error) { onError.Add(1) }})
		mustSave(t, a, oneAssignment("u1", "e1", "v1"))
		g.expect(t, "save u1 e1=v1").let() // fails
		mustSave(t, a, oneAssignment("u1", "e1", "v2"))
		g.expect(t, "save u1 e1=v1").let() // fails again
		g.expect(t, "save u1 e1=v1").let() // written
		g.expect(t, "save u1 e1=v2").let()
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		mustVariation(t, store.Memory, "u1", "e1", "v2")
		if st := a.Stats(); st.Retried != 2 || st.Written != 2 || st.Failed != 0 || onError.Load() != 0 {
			t.Fatalf("stats %+v, OnError %d: want 2 retries, 2 written", st, onError.Load())
		}
		closeAsync(t, a)
	})
	t.Run("never retries what the store rejects", func(t *testing.T) {
		store := newFake(t, MemoryOptions{})
		rejected := fmt.Errorf("bad row: %w", ErrInvalidProfile)
		store.failAll.Store(&rejected)
		var got []error
		var mu sync.Mutex
		a := newAsync(t, store, AsyncOptions{OnError: func(_ Profile, err error) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, err)
		}})
		mustSave(t, a, oneAssignment("u1", "e1", "v1"))
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if store.saves.Load() != 1 || len(got) != 1 || !errors.Is(got[0], ErrInvalidProfile) {
			t.Fatalf("%d store saves, OnError %v: want one attempt reported", store.saves.Load(), got)
		}
		if st := a.Stats(); st.Failed != 1 || st.Retried != 0 {
			t.Fatalf("stats %+v", st)
		}
		closeAsync(t, a)
	})
	t.Run("gives up after RetryFor", func(t *testing.T) {
		store := newFake(t, MemoryOptions{})
		store.failSaves.Store(-1)
		failed := make(chan error, 1)
		a := newAsync(t, store, AsyncOptions{RetryFor: 30 * time.Millisecond, OnError: func(_ Profile, err error) { failed <- err }})
		mustSave(t, a, oneAssignment("u1", "e1", "v1"))
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-failed; !Unavailable(err) || !strings.Contains(err.Error(), `user "u1"`) {
			t.Fatalf("OnError got %v, want the store's unavailable error naming the user", err)
		}
		if st := a.Stats(); st.Failed != 1 || st.Retried == 0 || st.StoreWrites != st.Retried+1 {
			t.Fatalf("stats %+v: want retries, then one failure", st)
		}
		closeAsync(t, a)
	})
}

func TestAsyncSaverReadYourWrites(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	_ = store.Memory.Save(ctx, oneAssignment("u1", "old", "o"))
	g := newGate()
	store.saveGate.Store(g)
	ret := Retention{Default: time.Hour}
	a := newAsync(t, store, AsyncOptions{Retention: ret})
	defer closeAsync(t, a)
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	inflight := g.expect(t, "save u1 e1=v1")
	mustSave(t, a, oneAssignment("u1", "e2", "v2")) // queued behind
	p, err := a.Lookup(ctx, "u1")
	if err != nil || variation(p, "e1") != "v1" || variation(p, "e2") != "v2" || variation(p, "old") != "o" {
		t.Fatalf("Lookup = %+v, %v; want the stored and both pending assignments", p.Assignments, err)
	}
	if p.Assignments["e1"].ExpiresAt.IsZero() {
		t.Fatal("pending assignment shown without the store's expiry")
	}
	p, err = a.LookupExperiments(ctx, "u1", []string{"e2", "old"})
	if err != nil || len(p.Assignments) != 2 || variation(p, "e2") != "v2" {
		t.Fatalf("LookupExperiments = %+v, %v", p.Assignments, err)
	}
	if as, ok, err := a.LookupAssignment(ctx, "u1", "e1"); err != nil || !ok || as.VariationID != "v1" {
		t.Fatalf("LookupAssignment = %+v %v %v", as, ok, err)
	}
	inflight.let()
	g.expect(t, "save u1 e2=v2").let()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	mustVariation(t, a, "u1", "e2", "v2")
}

func TestAsyncSaverDeleteIsOrderedWithSaves(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	inflight := g.expect(t, "save u1 e1=v1")
	mustSave(t, a, oneAssignment("u1", "e2", "v2")) // queued: the delete discards it
	deleted := make(chan error, 1)
	go func() { deleted <- a.Delete(ctx, "u1") }()
	eventually(t, "the delete to discard the queued save", func() bool { return a.Stats().Discarded == 1 })
	mustSave(t, a, oneAssignment("u1", "e3", "v3")) // after the delete
	p, _ := a.Lookup(ctx, "u1")
	if fmt.Sprint(sortedKeys(p.Assignments)) != "[e3]" {
		t.Fatalf("Lookup with a delete pending = %+v, want only e3", p.Assignments)
	}
	select {
	case err := <-deleted:
		t.Fatalf("Delete returned (%v) while a save of the user was still being written", err)
	default:
	}
	if store.deletes.Load() != 0 {
		t.Fatal("the delete reached the store before the save being written")
	}
	inflight.let()
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	g.expect(t, "save u1 e3=v3").let()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := store.Memory.Lookup(ctx, "u1")
	if fmt.Sprint(sortedKeys(got.Assignments)) != "[e3]" {
		t.Fatalf("stored after delete = %+v, want only e3", got.Assignments)
	}
	if st := a.Stats(); st.Accepted != 3 || st.Written != 2 || st.Discarded != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	closeAsync(t, a)
}

func TestAsyncSaverSaveFirstRunsInTheUsersOrder(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{})
	defer closeAsync(t, a)
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	inflight := g.expect(t, "save u1 e1=v1")
	mustSave(t, a, oneAssignment("u1", "e2", "v2"))
	type firstResult struct {
		won Profile
		err error
	}
	done := make(chan firstResult, 1)
	go func() {
		p := NewProfile("u1")
		p.Set("e1", "mine")
		p.Set("e2", "mine")
		p.Set("e3", "mine")
		won, err := a.SaveFirst(ctx, p)
		done <- firstResult{won, err}
	}()
	inflight.let()
	g.expect(t, "save u1 e2=v2").let()
	g.expect(t, "save u1 e1=mine e2=mine e3=mine").let()
	r := <-done
	if r.err != nil || variation(r.won, "e1") != "v1" || variation(r.won, "e2") != "v2" || len(r.won.Assignments) != 2 {
		t.Fatalf("SaveFirst = %+v, %v; want the two queued saves to win", r.won.Assignments, r.err)
	}
	mustVariation(t, store.Memory, "u1", "e3", "mine")
}

func TestAsyncSaverCloseDeadlineCancelsWritesAndCountsThem(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	var onError atomic.Int64
	a := newAsync(t, store, AsyncOptions{Workers: 1, OnError: func(Profile, error) { onError.Add(1) }})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	g.expect(t, "save u1 e1=v1") // held until Close cancels it
	mustSave(t, a, oneAssignment("u2", "e1", "v1"))
	mustSave(t, a, oneAssignment("u2", "e2", "v1")) // coalesced: still two saves
	mustSave(t, a, oneAssignment("u3", "e1", "v1"))
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	err := a.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "4 accepted saves not written") {
		t.Fatalf("Close = %v, want 4 saves not written and DeadlineExceeded", err)
	}
	if n := store.active.Load(); n != 0 {
		t.Fatalf("%d store calls still running after Close returned", n)
	}
	if st := a.Stats(); st.Abandoned != 4 || st.Pending != 0 || st.Failed != 0 || onError.Load() != 0 {
		t.Fatalf("stats %+v, OnError %d: want 4 abandoned, none failed", st, onError.Load())
	}
	if err := a.Save(context.Background(), oneAssignment("u4", "e", "v")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Save after Close = %v", err)
	}
	if err := a.Flush(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Flush after Close = %v", err)
	}
	if err := a.Close(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

func TestAsyncSaverCloseReleasesWaitingCallers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{Workers: 1})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	g.expect(t, "save u1 e1=v1")
	deleted := make(chan error, 1)
	go func() { deleted <- a.Delete(context.Background(), "u1") }()
	eventually(t, "the delete to queue", func() bool {
		ov, pending := a.overlayOf("u1")
		return pending && ov.reset
	})
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	if err := a.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v", err)
	}
	if err := <-deleted; !errors.Is(err, ErrClosed) {
		t.Fatalf("Delete waiting at Close = %v, want ErrClosed", err)
	}
	if store.deletes.Load() != 0 {
		t.Fatal("the delete ran after Close gave up")
	}
}

func TestAsyncSaverFlushWaitsForWhatCameBefore(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	first := g.expect(t, "save u1 e1=v1")

	short, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Flush(short); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "1 saves accepted before it still pending") {
		t.Fatalf("Flush with an ended context = %v", err)
	}

	flushed := make(chan error, 1)
	go func() { flushed <- a.Flush(ctx) }()
	eventually(t, "Flush to wait", func() bool { return a.epoch.Load() == 2 })
	mustSave(t, a, oneAssignment("u1", "e1", "v2")) // after the Flush: not waited for
	first.let()
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	second := g.expect(t, "save u1 e1=v2") // still held: Flush did not wait for it
	second.let()
	closeAsync(t, a)
}

func TestAsyncSaverFullQueue(t *testing.T) {
	ctx := context.Background()
	// fill leaves u1 being written and u2 queued in a one-user queue.
	fill := func(t *testing.T, opts AsyncOptions) (*AsyncSaver, *fakeStore, *gate, *gatedCall) {
		store := newFake(t, MemoryOptions{})
		g := newGate()
		store.saveGate.Store(g)
		opts.Workers, opts.QueueSize = 1, 1
		a := newAsync(t, store, opts)
		mustSave(t, a, oneAssignment("u1", "e", "v"))
		c := g.expect(t, "save u1 e=v")
		mustSave(t, a, oneAssignment("u2", "e", "v"))
		mustSave(t, a, oneAssignment("u2", "e", "w")) // coalesced: needs no room
		// A user being written may always queue behind its write.
		mustSave(t, a, oneAssignment("u1", "e", "w"))
		return a, store, g, c
	}
	t.Run("drop", func(t *testing.T) {
		a, _, g, c := fill(t, AsyncOptions{OnFull: FullDrop})
		if err := a.Save(ctx, oneAssignment("u3", "e", "v")); !errors.Is(err, ErrSaveQueueFull) {
			t.Fatalf("Save = %v, want ErrSaveQueueFull", err)
		}
		if st := a.Stats(); st.Dropped != 1 || st.Accepted != 4 {
			t.Fatalf("stats %+v", st)
		}
		c.let()
		g.open()
		closeAsync(t, a)
	})
	t.Run("wait then drop", func(t *testing.T) {
		a, _, g, c := fill(t, AsyncOptions{FullWait: time.Millisecond})
		if err := a.Save(ctx, oneAssignment("u3", "e", "v")); !errors.Is(err, ErrSaveQueueFull) {
			t.Fatalf("Save = %v, want ErrSaveQueueFull after FullWait", err)
		}
		if st := a.Stats(); st.Dropped != 1 {
			t.Fatalf("stats %+v", st)
		}
		c.let()
		g.open()
		closeAsync(t, a)
	})
	t.Run("wait for room", func(t *testing.T) {
		a, store, g, c := fill(t, AsyncOptions{FullWait: time.Minute})
		saved := make(chan error, 1)
		go func() { saved <- a.Save(ctx, oneAssignment("u3", "e", "v")) }()
		c.let() // u1 written; the worker takes u2, which frees its room
		g.expect(t, "save u2 e=w").let()
		if err := <-saved; err != nil {
			t.Fatalf("Save waiting for room = %v", err)
		}
		g.open()
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		mustVariation(t, store.Memory, "u3", "e", "v")
		mustVariation(t, store.Memory, "u1", "e", "w")
		if st := a.Stats(); st.Dropped != 0 || st.Accepted != 5 || st.Written != 5 {
			t.Fatalf("stats %+v", st)
		}
		closeAsync(t, a)
	})
	t.Run("write through", func(t *testing.T) {
		a, store, g, c := fill(t, AsyncOptions{OnFull: FullWriteThrough})
		saved := make(chan error, 1)
		go func() { saved <- a.Save(ctx, oneAssignment("u3", "e", "v")) }()
		g.expect(t, "save u3 e=v").let() // by the caller, while u1 is still held
		if err := <-saved; err != nil {
			t.Fatal(err)
		}
		mustVariation(t, store.Memory, "u3", "e", "v")
		if st := a.Stats(); st.WrittenThrough != 1 || st.Accepted != 4 {
			t.Fatalf("stats %+v", st)
		}
		c.let()
		g.open()
		closeAsync(t, a)
	})
}

func TestAsyncSaverValidates(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	if _, err := NewAsyncSaver(m, AsyncOptions{OnFull: FullPolicy(9)}); err == nil {
		t.Error("NewAsyncSaver accepted an unknown full-queue policy")
	}
	if _, err := NewAsyncSaver(nil, AsyncOptions{}); err == nil {
		t.Error("NewAsyncSaver(nil) succeeded")
	}
	a := newAsync(t, lookupOnly{m}, AsyncOptions{})
	defer closeAsync(t, a)
	ctx := context.Background()
	if err := a.Delete(ctx, "u1"); err == nil || !strings.Contains(err.Error(), "not a Deleter") {
		t.Fatalf("Delete over a store that cannot = %v", err)
	}
	if _, err := a.SaveFirst(ctx, oneAssignment("u1", "e", "v")); err == nil || !strings.Contains(err.Error(), "not a FirstWriter") {
		t.Fatalf("SaveFirst over a store that cannot = %v", err)
	}
	if err := a.Save(ctx, oneAssignment("u1", "", "v")); !errors.Is(err, ErrInvalidProfile) {
		t.Fatalf("Save(invalid) = %v", err)
	}
}

func TestAsyncSaverServesWaitingCallersFirst(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{Workers: 1})
	defer closeAsync(t, a)
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	inflight := g.expect(t, "save u1 e1=v1")
	mustSave(t, a, oneAssignment("u2", "e1", "v1"))
	mustSave(t, a, oneAssignment("u1", "e2", "v2")) // behind u1's write, after u2 in time
	done := make(chan error, 1)
	go func() {
		_, err := a.SaveFirst(ctx, oneAssignment("u1", "e3", "v3"))
		done <- err
	}()
	eventually(t, "SaveFirst to queue", func() bool {
		s := a.shard("u1")
		s.mu.Lock()
		defer s.mu.Unlock()
		return callerWaits(s.users["u1"].ops)
	})
	inflight.let()
	// u1's queued save goes before u2's, since a caller waits behind it.
	g.expect(t, "save u1 e2=v2").let()
	// Then the SaveFirst runs in its caller while the worker moves on to
	// u2: those two may reach the store in either order.
	seen := map[string]bool{}
	for range 2 {
		c := g.waitEntered(t)
		seen[c.what] = true
		c.let()
	}
	if !seen["save u1 e3=v3"] || !seen["save u2 e1=v1"] {
		t.Fatalf("store calls %v, want u1's SaveFirst and u2's save", seen)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestAsyncSaverHidesExpiredPendingAssignments(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{Retention: Retention{Default: time.Hour}, Now: clk.Now})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	held := g.expect(t, "save u1 e1=v1")
	clk.Advance(time.Hour)
	if as, ok, err := a.LookupAssignment(ctx, "u1", "e1"); err != nil || ok || as != (Assignment{}) {
		t.Fatalf("LookupAssignment past the retention = %+v %v %v, want none", as, ok, err)
	}
	if p, err := a.Lookup(ctx, "u1"); err != nil || !p.Empty() {
		t.Fatalf("Lookup past the retention = %+v %v, want none", p.Assignments, err)
	}
	held.let()
	closeAsync(t, a)
}
