package ups

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func newBreaker(t *testing.T, next Service, opts BreakerOptions) *Breaker {
	t.Helper()
	b, err := NewBreaker(next, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBreakerOpensAfterConsecutiveUnavailableErrors(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	b := newBreaker(t, store, BreakerOptions{Failures: 3, OpenFor: time.Hour})
	down := errUnavailableFake
	store.failAll.Store(&down)
	before := time.Now()
	for i := range 3 {
		if h := b.Health(); h.State != BreakerClosed {
			t.Fatalf("after %d failures the breaker is %s, want closed", i, h.State)
		}
		if _, err := b.Lookup(ctx, "u1"); !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrCircuitOpen) {
			t.Fatalf("Lookup %d = %v, want the store's error", i, err)
		}
	}
	h := b.Health()
	if h.State != BreakerOpen || h.State.String() != "open" || h.Since.Before(before) || h.ConsecutiveFailures != 3 || !errors.Is(h.LastError, ErrUnavailable) || h.LastErrorAt.Before(before) {
		t.Fatalf("Health = %+v, want open since the third failure with 3 consecutive failures", h)
	}
	calls := store.lookups.Load() + store.saves.Load()
	_, err := b.Lookup(ctx, "u1")
	if !errors.Is(err, ErrCircuitOpen) || !Unavailable(err) || !strings.Contains(err.Error(), `user "u1"`) {
		t.Fatalf("Lookup on an open breaker = %v, want ErrCircuitOpen naming the user", err)
	}
	if err := b.Save(ctx, oneAssignment("u1", "e", "v")); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("Save on an open breaker = %v", err)
	}
	if _, _, err := b.LookupAssignment(ctx, "u1", "e"); !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("LookupAssignment on an open breaker = %v", err)
	}
	if n := store.lookups.Load() + store.saves.Load(); n != calls {
		t.Fatalf("the open breaker let %d calls reach the store", n-calls)
	}
	if h := b.Health(); h.Rejected != 3 || h.ConsecutiveFailures != 3 {
		t.Fatalf("Health = %+v, want 3 rejected and the failures unchanged", h)
	}
}

func TestBreakerCountsOnlyUnavailableErrors(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	b := newBreaker(t, store, BreakerOptions{Failures: 3, OpenFor: time.Hour})
	down := errUnavailableFake
	fail := func(n int) {
		store.failAll.Store(&down)
		for range n {
			_, _ = b.Lookup(ctx, "u1")
		}
		store.failAll.Store(nil)
	}
	fail(2)
	// Invalid input, whether the store or the caller rejects it.
	for range 10 {
		if err := b.Save(ctx, Profile{UserID: "u1", Assignments: map[string]Assignment{"e": {}}}); !errors.Is(err, ErrInvalidProfile) {
			t.Fatalf("Save(invalid) = %v", err)
		}
	}
	// A caller that gives up mid-call.
	g := newGate()
	store.lookupGate.Store(g)
	cctx, cancel := context.WithCancel(ctx)
	read := lookupAsync(cctx, b, "u1")
	g.waitEntered(t)
	cancel()
	if r := <-read; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled Lookup = %v", r.err)
	}
	store.lookupGate.Store(nil)
	// A caller whose context ended before the call.
	if _, err := b.Lookup(cctx, "u1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup with an ended context = %v", err)
	}
	if h := b.Health(); h.State != BreakerClosed || h.ConsecutiveFailures != 2 {
		t.Fatalf("Health = %+v, want closed with the 2 failures still counted", h)
	}
	fail(1)
	if h := b.Health(); h.State != BreakerOpen {
		t.Fatalf("Health = %+v, want open on the third consecutive failure", h)
	}
}

func TestBreakerProbesAfterOpenFor(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	const openFor = 20 * time.Millisecond
	b := newBreaker(t, store, BreakerOptions{Failures: 1, OpenFor: openFor, Probes: 2})
	down := errUnavailableFake
	store.failAll.Store(&down)
	_, _ = b.Lookup(ctx, "u1")
	opened := b.Health()
	if opened.State != BreakerOpen {
		t.Fatalf("Health = %+v, want open", opened)
	}
	// gobreaker reads the wall clock: wait, bounded, for OpenFor to pass.
	eventually(t, "the breaker to turn half-open", func() bool { return b.Health().State == BreakerHalfOpen })
	if h := b.Health(); !h.Since.Equal(opened.Since.Add(openFor)) {
		t.Fatalf("half-open since %s, want %s (OpenFor after it opened)", h.Since, opened.Since.Add(openFor))
	}
	// A failing probe opens it again.
	_, _ = b.Lookup(ctx, "u1")
	if h := b.Health(); h.State != BreakerOpen {
		t.Fatalf("after a failed probe: %+v, want open", h)
	}
	store.failAll.Store(nil)
	eventually(t, "the breaker to turn half-open again", func() bool { return b.Health().State == BreakerHalfOpen })
	for i := range 2 {
		if _, err := b.Lookup(ctx, "u1"); err != nil {
			t.Fatalf("probe %d: %v", i, err)
		}
	}
	if h := b.Health(); h.State != BreakerClosed || h.ConsecutiveFailures != 0 || h.State.String() != "closed" {
		t.Fatalf("after 2 good probes: %+v, want closed", h)
	}
}

func TestBreakerPassesCapabilitiesAndCloses(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{})
	b := newBreaker(t, m, BreakerOptions{})
	p := NewProfile("u1")
	p.Set("a", "1")
	p.Set("b", "2")
	if err := b.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := b.LookupExperiments(ctx, "u1", []string{"b"}); err != nil || len(got.Assignments) != 1 || variation(got, "b") != "2" {
		t.Fatalf("LookupExperiments = %+v, %v", got, err)
	}
	if won, err := b.SaveFirst(ctx, oneAssignment("u1", "a", "x")); err != nil || variation(won, "a") != "1" {
		t.Fatalf("SaveFirst = %+v, %v", won, err)
	}
	if err := b.Delete(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	mustVariation(t, b, "u1", "a", "")
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Lookup(ctx, "u1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Lookup after Close = %v", err)
	}
	if _, err := m.Lookup(ctx, "u1"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Close did not close the store: %v", err)
	}

	lo := newBreaker(t, lookupOnly{m}, BreakerOptions{})
	if err := lo.Delete(ctx, "u1"); err == nil || !strings.Contains(err.Error(), "not a Deleter") {
		t.Fatalf("Delete over a store that cannot = %v", err)
	}
	if _, err := lo.SaveFirst(ctx, oneAssignment("u1", "e", "v")); err == nil || !strings.Contains(err.Error(), "not a FirstWriter") {
		t.Fatalf("SaveFirst over a store that cannot = %v", err)
	}
	if _, err := NewBreaker(m, BreakerOptions{Failures: -1}); err == nil {
		t.Fatal("NewBreaker accepted a negative option")
	}
}

// errTimeoutFake is what a driver says when a call runs past its timeout.
var errTimeoutFake = fmt.Errorf("fake store: no response in time: %w", ErrTimeout)

// TestBreakerStaysClosedWhileTheStoreAnswers: calls that run out of time —
// the caller's deadline or the store's own timeout — do not open the
// breaker while the store keeps answering other calls; they count once the
// store has answered nothing for UnansweredFor.
func TestBreakerStaysClosedWhileTheStoreAnswers(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	b := newBreaker(t, store, BreakerOptions{Failures: 3, OpenFor: time.Hour, UnansweredFor: 2 * time.Second, Now: clock})

	// Callers whose budget ends while the store works: the store is slow.
	g := newGate()
	store.lookupGate.Store(g)
	for i := range 10 {
		dctx, cancel := context.WithTimeout(ctx, time.Millisecond)
		_, err := b.Lookup(dctx, fmt.Sprintf("slow-%d", i))
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("lookup %d past the caller's deadline = %v", i, err)
		}
		now = now.Add(100 * time.Millisecond)
	}
	store.lookupGate.Store(nil)
	// The store's own timeouts, a second after its last answer.
	store.failAll.Store(&errTimeoutFake)
	for range 10 {
		_, _ = b.Lookup(ctx, "u1")
	}
	if h := b.Health(); h.State != BreakerClosed || h.ConsecutiveFailures != 0 {
		t.Fatalf("after 20 timeouts within %s of the store's last answer: %+v, want closed, nothing counted", 2*time.Second, h)
	}
	// An answer resets the clock; then silence longer than UnansweredFor.
	store.failAll.Store(nil)
	if _, err := b.Lookup(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	store.failAll.Store(&errTimeoutFake)
	now = now.Add(1900 * time.Millisecond)
	_, _ = b.Lookup(ctx, "u1")
	if h := b.Health(); h.ConsecutiveFailures != 0 {
		t.Fatalf("a timeout 1.9s after an answer counted: %+v", h)
	}
	now = now.Add(200 * time.Millisecond)
	for range 3 {
		_, _ = b.Lookup(ctx, "u1")
	}
	if h := b.Health(); h.State != BreakerOpen || !errors.Is(h.LastError, ErrTimeout) {
		t.Fatalf("after 3 timeouts with no answer for 2.1s: %+v, want open", h)
	}
}

// TestBreakerCountsRefusalsAtOnce: a store that says it cannot serve (a
// node down, no replicas) is not slow: those errors count at once, however
// recently the store answered.
func TestBreakerCountsRefusalsAtOnce(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	b := newBreaker(t, store, BreakerOptions{Failures: 3, OpenFor: time.Hour})
	if _, err := b.Lookup(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	store.failAll.Store(&errUnavailableFake)
	for range 3 {
		_, _ = b.Lookup(ctx, "u1")
	}
	if h := b.Health(); h.State != BreakerOpen {
		t.Fatalf("after 3 refusals: %+v, want open", h)
	}
}
