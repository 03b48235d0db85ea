package decision

import (
	"math"
	"strings"
	"testing"

	"github.com/twmb/murmur3"
)

// TestBucketValueVectors pins the vectors published with the Go and Python
// SDKs (murmurhashbucketer_test.go, test_bucketing.py).
func TestBucketValueVectors(t *testing.T) {
	tests := []struct {
		bucketingID, entityID string
		want                  int
	}{
		{"ppid1", "1886780721", 5254},
		{"ppid2", "1886780721", 4299},
		{"ppid2", "1886780722", 2434},
		{"ppid3", "1886780721", 5439},
		{"15580846", "default-rollout-386456-20914452332", 9999},
		// The split point does not matter: only the concatenation is hashed.
		{"", "ppid11886780721", 5254},
		{"ppid11886780721", "", 5254},
	}
	for _, tc := range tests {
		if got := bucketValue(tc.bucketingID, tc.entityID); got != tc.want {
			t.Errorf("bucketValue(%q, %q) = %d, want %d", tc.bucketingID, tc.entityID, got, tc.want)
		}
	}
}

// TestBucketValueLongKeys covers keys longer than the stack buffer, which
// take the allocating path and must hash the same bytes.
func TestBucketValueLongKeys(t *testing.T) {
	for _, n := range []int{keyBufSize - 10, keyBufSize - 9, keyBufSize + 1, 5000} {
		id := strings.Repeat("ü", n/2) + strings.Repeat("x", n%2)
		h := murmur3.SeedSum32(1, []byte(id+"12345"))
		want := int(math.Floor(float64(h) / math.Pow(2, 32) * 10000))
		if got := bucketValue(id, "12345"); got != want {
			t.Errorf("len %d: bucketValue = %d, want %d", len(id)+5, got, want)
		}
	}
}

// TestBucketOf checks the extremes of the hash map into [0, 9999]: float32
// arithmetic gave 10000 for hash 4294967228.
func TestBucketOf(t *testing.T) {
	tests := []struct {
		hash uint32
		want int
	}{
		{0, 0},
		{429496, 0}, // 429496/2^32*10000 = 0.9999983
		{429497, 1}, // 429497/2^32*10000 = 1.0000006
		{1 << 31, 5000},
		{4294967228, 9999},
		{math.MaxUint32, 9999},
	}
	for _, tc := range tests {
		if got := bucketOf(tc.hash); got != tc.want {
			t.Errorf("bucketOf(%d) = %d, want %d", tc.hash, got, tc.want)
		}
	}
}

func TestAllocate(t *testing.T) {
	a, b := &variation{key: "a"}, &variation{key: "b"}
	ranges := []trafficRange[variation]{{end: 0, entity: a}, {end: 3000, entity: a}, {end: 5000}, {end: 8000, entity: b}}
	tests := []struct {
		bucket int
		want   *variation
	}{
		{0, a}, {2999, a}, {3000, nil}, {4999, nil}, {5000, b}, {7999, b}, {8000, nil}, {9999, nil},
	}
	for _, tc := range tests {
		if got := allocate(ranges, tc.bucket); got != tc.want {
			t.Errorf("bucket %d: got %v, want %v", tc.bucket, got, tc.want)
		}
	}
	// Out-of-order ends: the first match wins, as in the SDKs.
	unsorted := []trafficRange[variation]{{end: 8000, entity: b}, {end: 3000, entity: a}}
	if got := allocate(unsorted, 1000); got != b {
		t.Errorf("unsorted: got %v, want b", got)
	}
}

func TestBucketingID(t *testing.T) {
	tests := []struct {
		name   string
		attrs  map[string]any
		want   string
		wantOK bool
	}{
		{"no attributes", nil, "user", true},
		{"string attribute", map[string]any{"$opt_bucketing_id": "shared"}, "shared", true},
		{"empty string attribute", map[string]any{"$opt_bucketing_id": ""}, "", true},
		{"number attribute", map[string]any{"$opt_bucketing_id": 42}, "user", false},
		{"null attribute", map[string]any{"$opt_bucketing_id": nil}, "user", false},
	}
	for _, tc := range tests {
		got, ok := bucketingID(&User{ID: "user", Attributes: tc.attrs})
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}
