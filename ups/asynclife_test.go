package ups

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

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
	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
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

func TestAsyncSaverCloseDuringCloseWaitsForIt(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	held := g.expect(t, "save u1 e1=v1")
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- a.Close(ctx) }()
	eventually(t, "Close to stop taking work", func() bool {
		s := a.shard("u1")
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.closing
	})
	go func() { second <- a.Close(ctx) }()
	select {
	case err := <-second:
		t.Fatalf("a second Close returned (%v) while the first still drains", err)
	case err := <-first:
		t.Fatalf("Close returned (%v) with a write held", err)
	default:
	}
	held.let()
	if err := <-first; err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := <-second; err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if st := a.Stats(); st.Written != 1 || st.Pending != 0 || len(store.writes()) != 1 {
		t.Fatalf("stats %+v: want the held save written", st)
	}
}

// deafStore's Save ignores its context: it returns only when released, as
// a store stuck in I/O without a deadline would.
type deafStore struct {
	*Memory
	entered, release, returned chan struct{}
}

func (d *deafStore) Save(_ context.Context, p Profile) error {
	d.entered <- struct{}{}
	<-d.release
	defer close(d.returned)
	return d.Memory.Save(context.Background(), p)
}

// TestAsyncSaverCloseReturnsPastAStuckWrite: Close returns soon after its
// context ends even when a write is stuck in a store that ignores the
// context, and counts that write as abandoned, once.
func TestAsyncSaverCloseReturnsPastAStuckWrite(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	store := &deafStore{Memory: m, entered: make(chan struct{}, 1), release: make(chan struct{}), returned: make(chan struct{})}
	a := newAsync(t, store, AsyncOptions{Workers: 1})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	<-store.entered // the worker is in the store
	mustSave(t, a, oneAssignment("u2", "e1", "v1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- a.Close(ctx) }()
	var err error
	select {
	case err = <-closed:
	case <-time.After(10 * time.Second):
		close(store.release)
		t.Fatal("Close did not return within 10s of its context ending")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "2 accepted saves not written") ||
		!strings.Contains(err.Error(), "1 stuck in a store") {
		t.Fatalf("Close = %v", err)
	}
	close(store.release) // the stuck write ends after Close returned
	<-store.returned
	workersDone := make(chan struct{})
	go func() { a.workers.Wait(); close(workersDone) }()
	select {
	case <-workersDone: // the worker settled its write and exited
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not exit after the store returned")
	}
	if st := a.Stats(); st.Abandoned != 2 || st.Written != 0 || st.Pending != 0 {
		t.Fatalf("stats %+v: want both saves abandoned once", st)
	}
}
