package testcluster

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestAliveProblems(t *testing.T) {
	const a, b = "127.0.0.2", "127.0.0.3"
	addrs := []string{a, b}
	normal := func(gen, hb int) endpoint { return endpoint{generation: gen, heartbeat: hb, status: "NORMAL,-42"} }
	first := map[pair]endpoint{}

	// First poll: both know each other, but no heartbeat has been seen
	// advancing yet.
	views := map[string]map[string]endpoint{
		a: {a: normal(100, 5), b: normal(200, 7)},
		b: {a: normal(100, 5), b: normal(200, 7)},
	}
	if p := aliveProblems(addrs, views, first); len(p) != 2 {
		t.Fatalf("first poll: problems %q, want one per direction (heartbeat not yet seen advancing)", p)
	}
	// Second poll: a's heartbeat advanced in b's view, b's is stuck in a's.
	views[b][a] = normal(100, 6)
	p := aliveProblems(addrs, views, first)
	if len(p) != 1 || !strings.Contains(p[0], "127.0.0.2 sees the heartbeat of 127.0.0.3 stuck at 7") {
		t.Fatalf("second poll: problems %q, want only b stuck in a's view", p)
	}
	// Third poll: both advanced.
	views[a][b] = normal(200, 8)
	if p := aliveProblems(addrs, views, first); len(p) != 0 {
		t.Fatalf("third poll: problems %q, want none", p)
	}

	// b restarts: it has a new generation, a still holds the old one
	// (with an advancing heartbeat it relayed earlier).
	views[b][b] = normal(300, 1)
	views[a][b] = normal(200, 9)
	p = aliveProblems(addrs, views, first)
	if len(p) == 0 || !strings.Contains(p[0], "knows generation 200 of 127.0.0.3, not its current 300") {
		t.Fatalf("after restart: problems %q, want the old generation reported", p)
	}
	// a learns the new generation: the heartbeat must advance within it
	// before b counts as alive again.
	views[a][b] = normal(300, 2)
	if p := aliveProblems(addrs, views, first); len(p) != 1 || !strings.Contains(p[0], "not yet seen the heartbeat of 127.0.0.3") {
		t.Fatalf("new generation, first sight: problems %q", p)
	}
	views[a][b] = normal(300, 3)
	if p := aliveProblems(addrs, views, first); len(p) != 0 {
		t.Fatalf("new generation advancing: problems %q, want none", p)
	}
}

func TestAliveProblemsStatusAndMissing(t *testing.T) {
	const a, b, c = "127.0.0.2", "127.0.0.3", "127.0.0.4"
	first := map[pair]endpoint{}
	views := map[string]map[string]endpoint{
		a: {a: {generation: 1, heartbeat: 1, status: "NORMAL,1"}, b: {generation: 2, heartbeat: 1, status: "shutdown,true"}},
		b: {b: {generation: 2, heartbeat: 1, status: "NORMAL,2"}},
		c: nil, // unreadable
	}
	p := aliveProblems([]string{a, b, c}, views, first)
	want := []string{
		"127.0.0.4: gossip not readable",
		`127.0.0.2 sees 127.0.0.3 as "shutdown,true"`,
		"127.0.0.3 does not know 127.0.0.2",
	}
	for _, w := range want {
		if !slices.Contains(p, w) {
			t.Errorf("problems %q lack %q", p, w)
		}
	}
}

func TestRingShares(t *testing.T) {
	const q = int64(1) << 62 // a quarter of the ring
	// Sorted ring: MinInt64 (a), -q (b), 0 (a), q+1 (b), MaxInt64 (c).
	shares := ringShares("dc1", map[string][]int64{
		"a": {math.MinInt64, 0}, // wraps from MaxInt64 (1 token), and (-q, 0]
		"b": {-q, q + 1},        // (MinInt64, -q] and (0, q+1]
		"c": {math.MaxInt64},    // (q+1, MaxInt64]
	})
	got := map[string]float64{}
	var sum float64
	for _, s := range shares {
		if s.DC != "dc1" {
			t.Errorf("share %+v in the wrong DC", s)
		}
		got[s.Addr] = s.Fraction
		sum += s.Fraction
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Fatalf("shares add up to %v, want 1: %+v", sum, shares)
	}
	for addr, want := range map[string]float64{"a": 0.25, "b": 0.5, "c": 0.25} {
		if math.Abs(got[addr]-want) > 1e-9 {
			t.Errorf("%s owns %v, want %v", addr, got[addr], want)
		}
	}
	if one := ringShares("dc2", map[string][]int64{"d": {7}}); len(one) != 1 || one[0].Fraction != 1 {
		t.Errorf("a single token owns %+v, want the whole ring", one)
	}
}

func TestOwnershipString(t *testing.T) {
	o := Ownership{{"127.0.0.2", "dc1", 0.5}, {"127.0.0.3", "dc1", 0.5}, {"127.0.0.5", "dc2", 1}}
	if got, want := o.String(), "dc1: 127.0.0.2 50.0%, 127.0.0.3 50.0%; dc2: 127.0.0.5 100.0%"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
