package cassandra

import (
	"math"
	"math/big"
	"testing"
)

func TestSplitRingCoversTheRingOnce(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 256, 1000, 4096} {
		ranges, err := SplitRing(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(ranges) != n {
			t.Fatalf("SplitRing(%d) gave %d ranges", n, len(ranges))
		}
		if ranges[0].Start != math.MinInt64 || ranges[n-1].End != math.MaxInt64 {
			t.Errorf("SplitRing(%d) spans (%d, %d], want the whole ring", n, ranges[0].Start, ranges[n-1].End)
		}
		ring := new(big.Int).Sub(big.NewInt(math.MaxInt64), big.NewInt(math.MinInt64))
		want := new(big.Int).Div(ring, big.NewInt(int64(n)))
		for i, r := range ranges {
			if r.Start >= r.End {
				t.Fatalf("SplitRing(%d)[%d] = (%d, %d] is empty or reversed", n, i, r.Start, r.End)
			}
			if i > 0 && r.Start != ranges[i-1].End {
				t.Fatalf("SplitRing(%d)[%d] starts at %d, the previous range ends at %d", n, i, r.Start, ranges[i-1].End)
			}
			width := new(big.Int).Sub(big.NewInt(r.End), big.NewInt(r.Start))
			// Equal widths, the last one taking the remainder (< n).
			if diff := new(big.Int).Sub(width, want); diff.Sign() < 0 || diff.Cmp(big.NewInt(int64(n))) >= 0 {
				t.Fatalf("SplitRing(%d)[%d] is %v wide, want %v (+ less than %d)", n, i, width, want, n)
			}
		}
	}
}

func TestSplitRingRejectsNoRanges(t *testing.T) {
	for _, n := range []int{0, -1} {
		if _, err := SplitRing(n); err == nil {
			t.Errorf("SplitRing(%d) succeeded", n)
		}
	}
}
