package ups

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

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
	a.flush(t)
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
	a.flush(t)
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
	a.flush(t)
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
