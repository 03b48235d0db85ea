package ups

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// warmCache returns a cache over Memory holding 1000 users of 10
// assignments each, all of them cached.
func warmCache(b *testing.B) (*Cache, []string) {
	b.Helper()
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{Retention: Retention{Default: time.Hour}})
	c, err := NewCache(m, CacheOptions{Size: 2000, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("user-%d", i)
		p := NewProfile(users[i])
		for e := range 10 {
			p.Set(fmt.Sprintf("exp-%d", e), "var")
		}
		if err := m.Save(ctx, p); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Lookup(ctx, users[i]); err != nil {
			b.Fatal(err)
		}
	}
	return c, users
}

// BenchmarkCacheHit measures the three lookups on a cache hit: one
// assignment (the goal is no allocation), two experiments, and the whole
// profile of 10 assignments.
func BenchmarkCacheHit(b *testing.B) {
	ctx := context.Background()
	b.Run("LookupAssignment", func(b *testing.B) {
		c, users := warmCache(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok, err := c.LookupAssignment(ctx, users[i%len(users)], "exp-3"); err != nil || !ok {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("LookupAssignment/parallel", func(b *testing.B) {
		c, users := warmCache(b)
		var next atomic.Uint64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				u := users[next.Add(1)%uint64(len(users))]
				if _, ok, err := c.LookupAssignment(ctx, u, "exp-3"); err != nil || !ok {
					b.Error(ok, err)
					return
				}
			}
		})
	})
	b.Run("LookupExperiments", func(b *testing.B) {
		c, users := warmCache(b)
		ids := []string{"exp-3", "exp-7"}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := c.LookupExperiments(ctx, users[i%len(users)], ids); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Lookup", func(b *testing.B) {
		c, users := warmCache(b)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := c.Lookup(ctx, users[i%len(users)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAsyncSaverSave measures accepted saves per second until they
// are all written (Close is inside the timing), with concurrent callers
// over Memory. Few users: most saves merge into a pending write. Many
// users: nearly every save is its own write. The queue waits for room
// rather than drop, so every save is accepted.
func BenchmarkAsyncSaverSave(b *testing.B) {
	for _, users := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("users=%d", users), func(b *testing.B) {
			ctx := context.Background()
			m, _ := NewMemory(MemoryOptions{Retention: Retention{Default: time.Hour}})
			a, err := NewAsyncSaver(m, AsyncOptions{FullWait: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			ids := make([]string, users)
			for i := range ids {
				ids[i] = fmt.Sprintf("user-%d", i)
			}
			var n atomic.Uint64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					p := Profile{UserID: ids[i%uint64(users)], Assignments: map[string]Assignment{
						fmt.Sprintf("exp-%d", i%5): {VariationID: "var"},
					}}
					if err := a.Save(ctx, p); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if err := a.Close(ctx); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st := a.Stats()
			if st.Dropped != 0 || st.Written != st.Accepted {
				b.Fatalf("stats %+v: want every save accepted and written", st)
			}
			b.ReportMetric(float64(st.StoreWrites)/float64(st.Accepted), "writes/save")
		})
	}
}

// BenchmarkBreakerLookupAssignment measures what a closed breaker adds to
// a lookup of Memory.
func BenchmarkBreakerLookupAssignment(b *testing.B) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{})
	_ = m.Save(ctx, oneAssignment("u1", "e1", "v1"))
	br, err := NewBreaker(m, BreakerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, err := br.LookupAssignment(ctx, "u1", "e1"); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
}
