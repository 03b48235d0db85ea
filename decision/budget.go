package decision

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// AdaptiveBudget is a store budget that follows the store: Multiplier
// times the 99th percentile of the latest profile lookups, kept within
// [Floor, Ceiling]. A fixed budget either gives up stickiness whenever the
// store's tail crosses it (too small) or makes every decision wait long
// through a stall (too large); this one grows with a slow cluster, up to
// Ceiling, and stays at Floor on a fast one. Until it has seen
// minBudgetSamples lookups it is Ceiling.
//
// Feed it every successful lookup's duration with Observe (the stack does,
// from the store underneath the cache and the async saver). It is safe for
// concurrent use; Observe and Budget cost a few nanoseconds, and the
// percentile is recomputed at most once a second.
type AdaptiveBudget struct {
	floor, ceiling time.Duration
	multiplier     float64
	now            func() time.Time

	ring [budgetWindow]atomic.Int64 // latest lookup durations, as int64
	n    atomic.Uint64              // lookups observed

	current    atomic.Int64 // the budget in force
	computedAt atomic.Int64 // when current was computed, UnixNano by now
	computing  atomic.Bool
}

// AdaptiveBudgetOptions configures NewAdaptiveBudget.
type AdaptiveBudgetOptions struct {
	// Floor and Ceiling bound the budget; both are required, Floor ≤ Ceiling.
	Floor, Ceiling time.Duration
	// Multiplier scales the observed 99th percentile; default 4.
	Multiplier float64
	// Now is the clock of the once-a-second recomputation; nil: time.Now.
	Now func() time.Time
}

const (
	// budgetWindow is how many of the latest lookups the percentile is
	// taken over.
	budgetWindow = 1024
	// minBudgetSamples is how many lookups the budget waits for before it
	// trusts a percentile.
	minBudgetSamples = 100
	// budgetRefresh is how often the percentile is recomputed.
	budgetRefresh = time.Second
)

// NewAdaptiveBudget returns a budget at opts.Ceiling, to follow the
// lookups it is then told of.
func NewAdaptiveBudget(opts AdaptiveBudgetOptions) (*AdaptiveBudget, error) {
	switch {
	case opts.Floor <= 0 || opts.Ceiling <= 0:
		return nil, errors.New("decision: adaptive budget: Floor and Ceiling must be positive")
	case opts.Floor > opts.Ceiling:
		return nil, fmt.Errorf("decision: adaptive budget: Floor %s is above Ceiling %s", opts.Floor, opts.Ceiling)
	case opts.Multiplier < 0:
		return nil, fmt.Errorf("decision: adaptive budget: negative Multiplier %v", opts.Multiplier)
	}
	if opts.Multiplier == 0 {
		opts.Multiplier = 4
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := &AdaptiveBudget{floor: opts.Floor, ceiling: opts.Ceiling, multiplier: opts.Multiplier, now: opts.Now}
	b.current.Store(int64(opts.Ceiling))
	b.computedAt.Store(opts.Now().UnixNano())
	return b, nil
}

// Observe records the duration of a lookup that succeeded.
func (b *AdaptiveBudget) Observe(d time.Duration) {
	i := b.n.Add(1) - 1
	b.ring[i%budgetWindow].Store(int64(d))
}

// Budget returns the budget in force, recomputing it when a second has
// passed since it last was.
func (b *AdaptiveBudget) Budget() time.Duration {
	now := b.now().UnixNano()
	if now-b.computedAt.Load() >= int64(budgetRefresh) && b.computing.CompareAndSwap(false, true) {
		b.recompute()
		b.computedAt.Store(now)
		b.computing.Store(false)
	}
	return time.Duration(b.current.Load())
}

// P99 returns the 99th percentile of the latest lookups, and false before
// enough were observed.
func (b *AdaptiveBudget) P99() (time.Duration, bool) {
	n := min(b.n.Load(), budgetWindow)
	if n < minBudgetSamples {
		return 0, false
	}
	s := make([]int64, n)
	for i := range s {
		s[i] = b.ring[i].Load()
	}
	slices.Sort(s)
	return time.Duration(s[(len(s)*99)/100]), true
}

func (b *AdaptiveBudget) recompute() {
	p99, ok := b.P99()
	if !ok {
		return
	}
	budget := time.Duration(float64(p99) * b.multiplier)
	b.current.Store(int64(min(max(budget, b.floor), b.ceiling)))
}
