package decision

import (
	"sync"
	"testing"
	"time"
)

func TestAdaptiveBudget(t *testing.T) {
	clk := &manualClock{now: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}
	b, err := NewAdaptiveBudget(AdaptiveBudgetOptions{Floor: 100 * time.Millisecond, Ceiling: time.Second, Multiplier: 4, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Budget(); got != time.Second {
		t.Fatalf("before any lookup: %s, want the ceiling", got)
	}
	// 99 fast lookups are not enough to trust.
	for range 99 {
		b.Observe(5 * time.Millisecond)
	}
	clk.Advance(time.Second)
	if got := b.Budget(); got != time.Second {
		t.Fatalf("after 99 lookups: %s, want the ceiling still", got)
	}
	// A fast store: 4 × p99 is below the floor.
	for range 1000 {
		b.Observe(5 * time.Millisecond)
	}
	if got := b.Budget(); got != time.Second {
		t.Fatalf("within a second of the last computation: %s, want it unchanged", got)
	}
	clk.Advance(time.Second)
	if got := b.Budget(); got != 100*time.Millisecond {
		t.Fatalf("fast store: %s, want the floor", got)
	}
	// A slower store: a tail of 2% at 60ms makes p99 60ms, the budget 240ms.
	for i := range budgetWindow {
		d := 10 * time.Millisecond
		if i%50 == 0 {
			d = 60 * time.Millisecond
		}
		b.Observe(d)
	}
	clk.Advance(time.Second)
	if got := b.Budget(); got != 240*time.Millisecond {
		t.Fatalf("p99 60ms: %s, want 240ms", got)
	}
	if p99, ok := b.P99(); !ok || p99 != 60*time.Millisecond {
		t.Fatalf("P99 = %s, %v", p99, ok)
	}
	// A stalled store: capped at the ceiling.
	for range budgetWindow {
		b.Observe(2 * time.Second)
	}
	clk.Advance(time.Second)
	if got := b.Budget(); got != time.Second {
		t.Fatalf("slow store: %s, want the ceiling", got)
	}
	for _, o := range []AdaptiveBudgetOptions{{}, {Floor: time.Second, Ceiling: time.Millisecond}, {Floor: 1, Ceiling: 2, Multiplier: -1}} {
		if _, err := NewAdaptiveBudget(o); err == nil {
			t.Errorf("NewAdaptiveBudget(%+v): no error", o)
		}
	}
}

func TestAdaptiveBudgetConcurrent(t *testing.T) {
	b, _ := NewAdaptiveBudget(AdaptiveBudgetOptions{Floor: time.Millisecond, Ceiling: time.Second})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				b.Observe(time.Duration(g*i) * time.Microsecond)
				if got := b.Budget(); got < time.Millisecond || got > time.Second {
					t.Errorf("budget %s outside its bounds", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}
