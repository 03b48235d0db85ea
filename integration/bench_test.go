package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// Benchmarks of the Cassandra store against the test node. Run with
// `go test -run '^$' -bench . ./integration/`; figures on one node on
// loopback measure client and server CPU, not network latency.

func BenchmarkStoreLookup(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, env(b, keyspace(b, "bench_lookup"), time.Hour, nil))
	users := make([]string, 100)
	for i := range users {
		users[i] = fmt.Sprintf("user-%d", i)
		p := ups.NewProfile(users[i])
		for e := range 10 {
			p.Set(fmt.Sprintf("exp-%d", e), "var")
		}
		if err := s.Save(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Lookup(ctx, users[i%len(users)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStoreSave(b *testing.B) {
	ctx := context.Background()
	s := newStore(b, env(b, keyspace(b, "bench_save"), time.Hour, nil))
	for _, n := range []int{1, 5} {
		b.Run(fmt.Sprintf("assignments=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				p := ups.NewProfile(fmt.Sprintf("user-%d", i%1000))
				for e := range n {
					p.Set(fmt.Sprintf("exp-%d", e), "var")
				}
				if err := s.Save(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
