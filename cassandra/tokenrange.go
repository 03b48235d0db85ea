package cassandra

import (
	"fmt"
	"math"
)

// TokenRange is a slice of the Murmur3 token ring: the partitions whose
// token t satisfies Start < t <= End, the form of the bounds in
// `WHERE token(user_id) > ? AND token(user_id) <= ?`.
type TokenRange struct {
	Start, End int64
}

// SplitRing cuts the whole Murmur3 ring into n contiguous ranges of equal
// width, in token order. The first starts at the ring's minimum token,
// which Murmur3Partitioner never gives a partition, and the last ends at
// its maximum, so together they hold every partition exactly once.
func SplitRing(n int) ([]TokenRange, error) {
	if n < 1 {
		return nil, fmt.Errorf("cassandra: split token ring into %d ranges: need at least 1", n)
	}
	// Offsets from the minimum token, in uint64 so the 2^64-1 wide ring
	// does not overflow.
	step := math.MaxUint64 / uint64(n)
	out := make([]TokenRange, n)
	start := int64(math.MinInt64)
	for i := range out {
		end := int64(math.MaxInt64)
		if i < n-1 {
			end = int64(uint64(math.MaxInt64) + 1 + uint64(i+1)*step) // MinInt64 + (i+1)·step, wrapping as two's complement
		}
		out[i] = TokenRange{Start: start, End: end}
		start = end
	}
	return out, nil
}
