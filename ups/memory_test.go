package ups

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"
)

// clock is a manual clock for TTL tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestMemory(t *testing.T, r Retention) (*Memory, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m, err := NewMemory(MemoryOptions{Retention: r, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func TestMemoryLookupUnknownUser(t *testing.T) {
	m, _ := newTestMemory(t, Retention{})
	p, err := m.Lookup(context.Background(), "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if p.UserID != "nobody" || !p.Empty() {
		t.Fatalf("Lookup(unknown) = %+v, want an empty profile for nobody", p)
	}
}

func TestMemoryTTL(t *testing.T) {
	ctx := context.Background()
	m, c := newTestMemory(t, Retention{
		Default:       time.Hour,
		PerExperiment: map[string]time.Duration{"long": 48 * time.Hour, "forever": 0},
	})
	p := NewProfile("u1")
	p.Set("default", "v1")
	p.Set("long", "v2")
	p.Set("forever", "v3")
	if err := m.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	start := c.Now()

	got, _ := m.Lookup(ctx, "u1")
	if a := got.Assignments["default"]; !a.DecidedAt.Equal(start) || !a.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("default assignment = %+v, want decided at %v expiring an hour later", a, start)
	}
	if a := got.Assignments["forever"]; !a.ExpiresAt.IsZero() {
		t.Fatalf("forever assignment expires at %v, want never", a.ExpiresAt)
	}

	steps := []struct {
		advance time.Duration
		want    []string
	}{
		{59 * time.Minute, []string{"default", "forever", "long"}},
		{time.Minute, []string{"forever", "long"}}, // exactly at expiry: gone, as in Cassandra
		{47 * time.Hour, []string{"forever"}},
		{100 * 365 * 24 * time.Hour, []string{"forever"}},
	}
	for _, s := range steps {
		c.Advance(s.advance)
		got, err := m.Lookup(ctx, "u1")
		if err != nil {
			t.Fatal(err)
		}
		if keys := sortedKeys(got.Assignments); fmt.Sprint(keys) != fmt.Sprint(s.want) {
			t.Fatalf("after %v: experiments %v, want %v", c.Now().Sub(start), keys, s.want)
		}
	}
}

func TestMemorySaveRefreshesTTL(t *testing.T) {
	ctx := context.Background()
	m, c := newTestMemory(t, Retention{Default: time.Hour})
	p := NewProfile("u1")
	p.Set("e", "v1")
	_ = m.Save(ctx, p)
	c.Advance(50 * time.Minute)
	p.Set("e", "v2")
	_ = m.Save(ctx, p)
	c.Advance(50 * time.Minute)
	got, _ := m.Lookup(ctx, "u1")
	if v, ok := got.Variation("e"); !ok || v != "v2" {
		t.Fatalf("Variation(e) = %q, %v; want v2 kept alive by the second save", v, ok)
	}
}

func TestMemoryReturnsCopies(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory(t, Retention{})
	p := NewProfile("u1")
	p.Set("e", "v1")
	_ = m.Save(ctx, p)
	p.Set("e", "mutated-after-save")

	got, _ := m.Lookup(ctx, "u1")
	got.Assignments["e"] = Assignment{VariationID: "mutated-after-lookup"}
	got.Assignments["new"] = Assignment{VariationID: "x"}
	for _, snap := range m.Profiles() {
		snap.Assignments["e"] = Assignment{VariationID: "mutated-snapshot"}
	}

	again, _ := m.Lookup(ctx, "u1")
	if v, _ := again.Variation("e"); v != "v1" || len(again.Assignments) != 1 {
		t.Fatalf("store state changed through a returned value: %+v", again)
	}
}

func TestMemorySaveMergesConcurrently(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory(t, Retention{Default: time.Hour})
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p := NewProfile("u1")
			p.Set(fmt.Sprintf("exp-%d", i), fmt.Sprintf("var-%d", i))
			if err := m.Save(ctx, p); err != nil {
				t.Error(err)
			}
			if _, err := m.Lookup(ctx, "u1"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, _ := m.Lookup(ctx, "u1")
	if len(got.Assignments) != n {
		t.Fatalf("%d assignments survived concurrent saves, want %d", len(got.Assignments), n)
	}
}

func TestMemoryRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory(t, Retention{})
	bad := Profile{UserID: "u1", Assignments: map[string]Assignment{"ok": {VariationID: "v"}, "bad": {}}}
	if err := m.Save(ctx, bad); !errors.Is(err, ErrInvalidProfile) {
		t.Fatalf("Save(invalid) = %v, want ErrInvalidProfile", err)
	}
	got, _ := m.Lookup(ctx, "u1")
	if !got.Empty() {
		t.Fatalf("an invalid save wrote %+v; nothing should be written", got.Assignments)
	}
	if _, err := m.Lookup(ctx, ""); !errors.Is(err, ErrInvalidProfile) {
		t.Fatalf("Lookup(\"\") = %v, want ErrInvalidProfile", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Save(cancelled, NewProfile("u1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Save with cancelled context = %v, want context.Canceled", err)
	}
}

func TestMemoryDeleteAndProfiles(t *testing.T) {
	ctx := context.Background()
	m, c := newTestMemory(t, Retention{PerExperiment: map[string]time.Duration{"short": time.Second}})
	for _, id := range []string{"b", "a", "c"} {
		p := NewProfile(id)
		p.Set("e", "v")
		_ = m.Save(ctx, p)
	}
	short := NewProfile("d")
	short.Set("short", "v")
	_ = m.Save(ctx, short)
	c.Advance(time.Second)

	if err := m.Delete(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range m.Profiles() {
		ids = append(ids, p.UserID)
	}
	if fmt.Sprint(ids) != "[a b]" {
		t.Fatalf("Profiles() users = %v, want [a b] (c deleted, d expired)", ids)
	}
}

func TestNewMemoryRejectsBadRetention(t *testing.T) {
	for _, r := range []Retention{
		{Default: -time.Second},
		{Default: MaxRetention + time.Second},
		{Default: 1500 * time.Millisecond},
		{PerExperiment: map[string]time.Duration{"e": MaxRetention + time.Second}},
		{PerExperiment: map[string]time.Duration{"": time.Second}},
	} {
		if _, err := NewMemory(MemoryOptions{Retention: r}); err == nil {
			t.Errorf("NewMemory(%+v) succeeded, want an error", r)
		}
	}
}

func sortedKeys(m map[string]Assignment) []string {
	return slices.Sorted(maps.Keys(m))
}

func TestMemoryLookupExperiments(t *testing.T) {
	ctx := context.Background()
	m, c := newTestMemory(t, Retention{PerExperiment: map[string]time.Duration{"short": time.Second}})
	p := NewProfile("u1")
	for _, e := range []string{"a", "b", "c", "short"} {
		p.Set(e, "v-"+e)
	}
	_ = m.Save(ctx, p)
	c.Advance(time.Second)
	got, err := m.LookupExperiments(ctx, "u1", []string{"a", "c", "short", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	if keys := sortedKeys(got.Assignments); fmt.Sprint(keys) != "[a c]" {
		t.Fatalf("LookupExperiments = %v, want [a c] (b not asked for, short expired)", keys)
	}
	got.Assignments["a"] = Assignment{VariationID: "mutated"}
	if again, _ := m.Lookup(ctx, "u1"); again.Assignments["a"].VariationID != "v-a" {
		t.Fatal("caller mutated the store through a scoped lookup")
	}
	if _, err := m.LookupExperiments(ctx, "", []string{"a"}); !errors.Is(err, ErrInvalidProfile) {
		t.Fatalf("LookupExperiments(\"\") = %v, want ErrInvalidProfile", err)
	}
}

func TestMemorySaveKeepsGivenDecidedAt(t *testing.T) {
	ctx := context.Background()
	m, c := newTestMemory(t, Retention{Default: time.Hour})
	first := c.Now().Add(-30 * time.Minute)
	p := NewProfile("u1")
	p.Assignments["e"] = Assignment{VariationID: "v1", DecidedAt: first, ExpiresAt: c.Now().Add(time.Minute)}
	if err := m.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, _ := m.Lookup(ctx, "u1")
	a := got.Assignments["e"]
	if !a.DecidedAt.Equal(first) {
		t.Errorf("DecidedAt = %v, want the given %v", a.DecidedAt, first)
	}
	if want := c.Now().Add(time.Hour); !a.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v (retention from the save, the given expiry ignored)", a.ExpiresAt, want)
	}
}

func TestMemorySaveFirst(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory(t, Retention{})
	first := NewProfile("u1")
	first.Set("e1", "a")
	won, err := m.SaveFirst(ctx, first)
	if err != nil || !won.Empty() {
		t.Fatalf("first SaveFirst = %+v, %v; want nothing won over it", won, err)
	}
	second := NewProfile("u1")
	second.Set("e1", "b")
	second.Set("e2", "c")
	won, err = m.SaveFirst(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := won.Variation("e1"); v != "a" || len(won.Assignments) != 1 {
		t.Fatalf("second SaveFirst won = %+v, want e1=a only", won.Assignments)
	}
	got, _ := m.Lookup(ctx, "u1")
	if v1, _ := got.Variation("e1"); v1 != "a" {
		t.Errorf("e1 = %q after losing SaveFirst, want a", v1)
	}
	if v2, _ := got.Variation("e2"); v2 != "c" {
		t.Errorf("e2 = %q, want c (no earlier writer)", v2)
	}
}

func TestMemoryClose(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestMemory(t, Retention{})
	if err := m.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lookup(ctx, "u1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Lookup after Close = %v, want ErrClosed", err)
	}
	if err := m.Save(ctx, oneAssignment("u1", "e", "v")); !errors.Is(err, ErrClosed) {
		t.Errorf("Save after Close = %v, want ErrClosed", err)
	}
}

func TestMemoryLookupAssignment(t *testing.T) {
	ctx := context.Background()
	m, c := newTestMemory(t, Retention{PerExperiment: map[string]time.Duration{"short": time.Second}})
	p := NewProfile("u1")
	p.Set("a", "v-a")
	p.Set("short", "v-s")
	_ = m.Save(ctx, p)
	if a, ok, err := m.LookupAssignment(ctx, "u1", "a"); err != nil || !ok || a.VariationID != "v-a" {
		t.Fatalf("LookupAssignment(a) = %+v, %v, %v", a, ok, err)
	}
	c.Advance(time.Second)
	for _, exp := range []string{"short", "missing"} {
		if a, ok, err := m.LookupAssignment(ctx, "u1", exp); err != nil || ok {
			t.Errorf("LookupAssignment(%s) = %+v, %v, %v; want none", exp, a, ok, err)
		}
	}
	if _, _, err := m.LookupAssignment(ctx, "", "a"); !errors.Is(err, ErrInvalidProfile) {
		t.Errorf("LookupAssignment(\"\") = %v, want ErrInvalidProfile", err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = m.LookupAssignment(ctx, "u1", "a") }); n != 0 {
		t.Errorf("LookupAssignment allocates %.0f times, want 0", n)
	}
}
