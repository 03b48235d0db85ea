package integration

import (
	"encoding/hex"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// Realistic identifiers for the benchmarks: user IDs are random (version 4)
// UUIDs, experiment and variation IDs ten-digit numbers, as Optimizely
// writes them. Everything is generated from fixed seeds, so two runs write
// the same data.

// uuidAt returns the n-th user ID of a stream: a version-4 UUID made of
// seed and n, 36 characters.
func uuidAt(seed, n uint64) string {
	r := rand.New(rand.NewPCG(seed, n))
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:], b[10:])
	return string(s[:])
}

// newUsers hands out user IDs no earlier call of this test binary returned:
// benchmarks that need a new user for every operation take them here, so
// repeated runs (-count) never meet a user already written.
var newUsers atomic.Uint64

func newUserID() string { return uuidAt(0x5eed_0001, newUsers.Add(1)) }

// tenDigits returns a random ten-digit decimal ID.
func tenDigits(r *rand.Rand) string {
	return strconv.FormatUint(1_000_000_000+r.Uint64N(9_000_000_000), 10)
}

// experiment is one running experiment of the benchmarks' catalogue.
type experiment struct {
	id         string
	variations []string
}

// catalogue returns n experiments with two to four variations each.
func catalogue(seed uint64, n int) []experiment {
	r := rand.New(rand.NewPCG(seed, 0))
	exps := make([]experiment, n)
	for i := range exps {
		exps[i].id = tenDigits(r)
		for range 2 + r.IntN(3) {
			exps[i].variations = append(exps[i].variations, tenDigits(r))
		}
	}
	return exps
}

// userAssignments picks perUser distinct experiments of exps for user n
// and a variation in each, the same for the same seed and n.
func userAssignments(exps []experiment, seed, n uint64, perUser int) [][2]string {
	r := rand.New(rand.NewPCG(seed, n))
	picked := make([][2]string, 0, perUser)
	idx := make([]int, len(exps))
	for i := range idx {
		idx[i] = i
	}
	for i := range perUser {
		j := i + r.IntN(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
		e := exps[idx[i]]
		picked = append(picked, [2]string{e.id, e.variations[r.IntN(len(e.variations))]})
	}
	return picked
}

// loadAvg1 is the machine's one-minute load average, or -1 if unknown.
func loadAvg1() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// reportLoad adds the one-minute load average at the end of the run to
// the benchmark's figures: the machine is shared, and a figure means
// little without the load it was measured under.
func reportLoad(b *testing.B) {
	b.ReportMetric(loadAvg1(), "load-avg")
}
