package ups

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestAsyncSaverRetriesWhileTheStoreIsUnavailable(t *testing.T) {
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
		a.flush(t)
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
		a.flush(t)
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
		a.flush(t)
		if err := <-failed; !Unavailable(err) || !strings.Contains(err.Error(), `user "u1"`) {
			t.Fatalf("OnError got %v, want the store's unavailable error naming the user", err)
		}
		if st := a.Stats(); st.Failed != 1 || st.Retried == 0 || st.StoreWrites != st.Retried+1 {
			t.Fatalf("stats %+v: want retries, then one failure", st)
		}
		closeAsync(t, a)
	})
}

func TestAsyncSaverNegativeRetryForTriesOnce(t *testing.T) {
	store := newFake(t, MemoryOptions{})
	store.failSaves.Store(1)
	failed := make(chan error, 1)
	a := newAsync(t, store, AsyncOptions{RetryFor: -1, OnError: func(_ Profile, err error) { failed <- err }})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	a.flush(t)
	if err := <-failed; !errors.Is(err, errUnavailableFake) {
		t.Fatalf("OnError got %v, want the store's error", err)
	}
	if st := a.Stats(); st.StoreWrites != 1 || st.Retried != 0 || st.Failed != 1 {
		t.Fatalf("stats %+v: want one attempt, failed", st)
	}
	closeAsync(t, a)
}

func TestAsyncSaverBoundsEachAttempt(t *testing.T) {
	store := newFake(t, MemoryOptions{})
	g := newGate() // never opened: every attempt waits until its timeout
	store.saveGate.Store(g)
	failed := make(chan error, 1)
	a := newAsync(t, store, AsyncOptions{Timeout: time.Millisecond, RetryFor: 20 * time.Millisecond, OnError: func(_ Profile, err error) { failed <- err }})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	if err := <-failed; !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `user "u1"`) {
		t.Fatalf("OnError got %v, want the attempt's deadline, naming the user", err)
	}
	a.flush(t)
	if st := a.Stats(); st.Failed != 1 || st.StoreWrites < 2 || st.Retried != st.StoreWrites-1 {
		t.Fatalf("stats %+v: want timed-out attempts retried, then one failure", st)
	}
	closeAsync(t, a)
}
