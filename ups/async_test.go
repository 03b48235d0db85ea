package ups

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
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

// flush waits, bounded, until no accepted save is pending: each was
// written, failed (OnError has returned for it), or was discarded. It is
// what Close waits for, without closing; call it once the test's saves
// are all accepted.
func (a *AsyncSaver) flush(t testing.TB) {
	t.Helper()
	eventually(t, "the accepted saves to be written", func() bool { return a.Stats().Pending == 0 })
}

func mustSave(t *testing.T, s Service, p Profile) {
	t.Helper()
	if err := s.Save(context.Background(), p); err != nil {
		t.Fatalf("Save(%s): %v", describe(p), err)
	}
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
		a.flush(t)
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

func TestParseFullPolicy(t *testing.T) {
	for _, f := range fullPolicies {
		if got, err := ParseFullPolicy(f.String()); err != nil || got != f {
			t.Errorf("ParseFullPolicy(%q) = %v, %v; want %v", f.String(), got, err, f)
		}
	}
	for _, name := range []string{"", "panic", "Drop", "FullPolicy(0)"} {
		_, err := ParseFullPolicy(name)
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(name)) ||
			!strings.Contains(err.Error(), "wait-then-drop, write-through or drop") {
			t.Errorf("ParseFullPolicy(%q) = %v, want an error naming it and the valid names", name, err)
		}
	}
}

func TestAsyncOptionsDefaults(t *testing.T) {
	got := AsyncOptions{}.withDefaults()
	want := AsyncOptions{
		QueueSize:    DefaultAsyncQueue,
		Workers:      DefaultAsyncWorkers,
		Timeout:      DefaultAsyncTimeout,
		RetryFor:     DefaultAsyncRetryFor,
		RetryInitial: DefaultAsyncRetryInitial,
		RetryMax:     DefaultAsyncRetryMax,
		OnFull:       DefaultAsyncOnFull,
		FullWait:     DefaultAsyncFullWait,
	}
	if got.Now == nil {
		t.Error("no default clock")
	}
	got.Now = nil
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("defaults %+v, want %+v", got, want)
	}
	set := AsyncOptions{QueueSize: 1, Workers: 2, Timeout: time.Second, RetryFor: -1, FullWait: time.Millisecond}.withDefaults()
	if set.QueueSize != 1 || set.Workers != 2 || set.Timeout != time.Second || set.RetryFor != -1 || set.FullWait != time.Millisecond {
		t.Errorf("options set were replaced: %+v", set)
	}
	m, _ := NewMemory(MemoryOptions{})
	a := newAsync(t, m, AsyncOptions{})
	defer closeAsync(t, a)
	if len(a.shards) != DefaultAsyncWorkers || cap(a.slots) != DefaultAsyncQueue {
		t.Errorf("%d workers and a queue of %d, want the defaults", len(a.shards), cap(a.slots))
	}
}
