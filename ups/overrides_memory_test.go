package ups

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestMemoryOverridesSetReadReplaceRemove(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemoryOverrides(MemoryOverridesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k := OverrideKey{Scope: "p/e", UserID: "u", ExperimentKey: "exp"}
	if prev, ok, err := s.SetOverride(ctx, k, "a"); err != nil || ok || prev != "" {
		t.Fatalf("first set = %q, %v, %v; want none", prev, ok, err)
	}
	if prev, ok, err := s.SetOverride(ctx, k, "b"); err != nil || !ok || prev != "a" {
		t.Fatalf("second set = %q, %v, %v; want a", prev, ok, err)
	}
	other := k
	other.Scope = "p/other"
	if _, _, err := s.SetOverride(ctx, other, "c"); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserOverrides(ctx, "p/e", "u")
	if err != nil || !maps.Equal(got, map[string]string{"exp": "b"}) {
		t.Fatalf("UserOverrides = %v, %v; want exp=b only (scopes kept apart)", got, err)
	}
	if prev, ok, err := s.RemoveOverride(ctx, k); err != nil || !ok || prev != "b" {
		t.Fatalf("remove = %q, %v, %v; want b", prev, ok, err)
	}
	if prev, ok, err := s.RemoveOverride(ctx, k); err != nil || ok || prev != "" {
		t.Fatalf("second remove = %q, %v, %v; want none", prev, ok, err)
	}
	if got, _ := s.UserOverrides(ctx, "p/e", "u"); got != nil {
		t.Fatalf("after removal: %v", got)
	}
}

func TestMemoryOverridesExpireAfterTTL(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s, err := NewMemoryOverrides(MemoryOverridesOptions{TTL: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	k := OverrideKey{UserID: "u", ExperimentKey: "exp"}
	if _, _, err := s.SetOverride(ctx, k, "a"); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute - time.Nanosecond)
	if got, _ := s.UserOverrides(ctx, "", "u"); got["exp"] != "a" {
		t.Fatalf("just before the TTL: %v", got)
	}
	// Setting again restarts the TTL.
	if _, _, err := s.SetOverride(ctx, k, "a"); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Minute - time.Nanosecond)
	if got, _ := s.UserOverrides(ctx, "", "u"); got["exp"] != "a" {
		t.Fatalf("a set restarts the TTL: %v", got)
	}
	clk.t = clk.t.Add(time.Nanosecond)
	if got, _ := s.UserOverrides(ctx, "", "u"); got != nil {
		t.Fatalf("at the TTL: %v, want none", got)
	}
	if prev, ok, _ := s.SetOverride(ctx, k, "b"); ok {
		t.Fatalf("an expired override is no previous one: %q", prev)
	}
}

func TestMemoryOverridesBoundAndValidation(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	s, err := NewMemoryOverrides(MemoryOverridesOptions{TTL: time.Minute, MaxOverrides: 2, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"a", "b"} {
		if _, _, err := s.SetOverride(ctx, OverrideKey{UserID: u, ExperimentKey: "e"}, "v"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.SetOverride(ctx, OverrideKey{UserID: "c", ExperimentKey: "e"}, "v"); !errors.Is(err, ErrOverridesFull) {
		t.Fatalf("third set: %v, want ErrOverridesFull", err)
	}
	if _, _, err := s.SetOverride(ctx, OverrideKey{UserID: "a", ExperimentKey: "e"}, "w"); err != nil {
		t.Fatalf("replacing one of a full store: %v", err)
	}
	clk.t = clk.t.Add(time.Minute)
	if _, _, err := s.SetOverride(ctx, OverrideKey{UserID: "c", ExperimentKey: "e"}, "v"); err != nil {
		t.Fatalf("once the others expired: %v", err)
	}
	for _, bad := range []struct {
		k OverrideKey
		v string
	}{
		{OverrideKey{ExperimentKey: "e"}, "v"},
		{OverrideKey{UserID: "u"}, "v"},
		{OverrideKey{UserID: "u", ExperimentKey: "e"}, ""},
		{OverrideKey{UserID: "u", ExperimentKey: strings.Repeat("e", MaxOverrideKeyBytes+1)}, "v"},
		{OverrideKey{UserID: "u", ExperimentKey: "e"}, strings.Repeat("v", MaxOverrideKeyBytes+1)},
	} {
		if _, _, err := s.SetOverride(ctx, bad.k, bad.v); !errors.Is(err, ErrInvalidProfile) {
			t.Errorf("SetOverride(%+v, %q) = %v, want ErrInvalidProfile", bad.k, bad.v, err)
		}
	}
	for _, ttl := range []time.Duration{-time.Second, time.Millisecond, MaxOverrideTTL + time.Second} {
		if _, err := NewMemoryOverrides(MemoryOverridesOptions{TTL: ttl}); err == nil {
			t.Errorf("TTL %s accepted", ttl)
		}
	}
}

// TestMemoryOverridesConcurrent: sets, removals and reads of one user from
// many goroutines, released together (run with -race); the count of held
// overrides stays exact, so the bound is neither leaked nor over-counted.
func TestMemoryOverridesConcurrent(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemoryOverrides(MemoryOverridesOptions{MaxOverrides: 8})
	if err != nil {
		t.Fatal(err)
	}
	start := make(chan struct{})
	done := make(chan error)
	const workers = 8
	for w := range workers {
		go func() {
			<-start
			k := OverrideKey{UserID: "u", ExperimentKey: string(rune('a' + w%4))}
			for i := range 200 {
				var err error
				switch i % 3 {
				case 0:
					_, _, err = s.SetOverride(ctx, k, "v")
				case 1:
					_, err = s.UserOverrides(ctx, "", "u")
				default:
					_, _, err = s.RemoveOverride(ctx, k)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	close(start)
	for range workers {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	got, _ := s.UserOverrides(ctx, "", "u")
	s.mu.Lock()
	n := s.n
	s.mu.Unlock()
	if n != len(got) {
		t.Fatalf("count %d, overrides held %v", n, got)
	}
}
