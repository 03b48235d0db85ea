package ups

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkMemoryLookup measures a warm lookup of a user with 10
// assignments, the common case for a decide call.
func BenchmarkMemoryLookup(b *testing.B) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{Retention: Retention{Default: time.Hour}})
	users := make([]string, 1000)
	for i := range users {
		users[i] = fmt.Sprintf("user-%d", i)
		p := NewProfile(users[i])
		for e := range 10 {
			p.Set(fmt.Sprintf("exp-%d", e), "var")
		}
		_ = m.Save(ctx, p)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Lookup(ctx, users[i%len(users)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemorySave(b *testing.B) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{Retention: Retention{Default: time.Hour}})
	p := NewProfile("user")
	p.Set("exp", "var")
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Save(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}
