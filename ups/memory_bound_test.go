package ups

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMemoryStaysUnderMaxBytes: saves beyond MaxBytes evict users, the
// least recently used of a sample, so a user in use stays and the store
// stays within its bound.
func TestMemoryStaysUnderMaxBytes(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}
	m, err := NewMemory(MemoryOptions{MaxBytes: MinMemoryBytes, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("v", 200)
	save := func(user string) {
		p := NewProfile(user)
		for e := range 10 {
			p.Set(fmt.Sprintf("exp-%d", e), long)
		}
		if err := m.Save(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	save("hot")
	for i := range 2000 { // about 3 KB each: 6 MB in all
		clk.Advance(time.Millisecond)
		save(fmt.Sprintf("user-%05d", i))
		if i%50 == 0 {
			clk.Advance(time.Millisecond)
			if _, ok, _ := m.LookupAssignment(ctx, "hot", "exp-1"); !ok {
				t.Fatalf("after %d users the user in use was evicted", i)
			}
		}
		if st := m.Stats(); st.Bytes > MinMemoryBytes {
			t.Fatalf("after %d users: %d bytes held, over MaxBytes %d", i, st.Bytes, MinMemoryBytes)
		}
	}
	st := m.Stats()
	if st.Evicted == 0 || st.Users > 500 {
		t.Fatalf("stats %+v: want users evicted and the rest within the bound", st)
	}
	if err := m.Delete(ctx, "hot"); err != nil {
		t.Fatal(err)
	}
	if after := m.Stats(); after.Users != st.Users-1 || after.Bytes >= st.Bytes {
		t.Fatalf("delete: %+v then %+v", st, after)
	}
	if _, err := NewMemory(MemoryOptions{MaxBytes: 1000}); err == nil {
		t.Fatal("MaxBytes below the minimum accepted")
	}
}

// TestMemoryReclaimsExpiredAssignments: users who never come back do not
// keep their expired assignments: saves reclaim a few users' each.
func TestMemoryReclaimsExpiredAssignments(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)}
	m, _ := NewMemory(MemoryOptions{Retention: Retention{Default: time.Hour}, Now: clk.Now})
	for i := range 500 {
		_ = m.Save(ctx, oneAssignment(fmt.Sprintf("old-%d", i), "e", "v"))
	}
	clk.Advance(2 * time.Hour)
	for i := range 1000 {
		_ = m.Save(ctx, oneAssignment(fmt.Sprintf("new-%d", i), "e", "v"))
	}
	st := m.Stats()
	if st.Expired < 400 || st.Users > 1100 {
		t.Fatalf("stats %+v: want most of the 500 expired users reclaimed by 1,000 saves", st)
	}
	if _, ok, _ := m.LookupAssignment(ctx, "old-1", "e"); ok {
		t.Fatal("an expired assignment was served")
	}
}
