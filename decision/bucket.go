package decision

import (
	"math"

	"github.com/twmb/murmur3"
)

// Bucketing follows the Optimizely SDKs: MurmurHash3 (x86, 32-bit, seed 1)
// over the UTF-8 bytes of bucketingID+entityID, scaled to [0, 10000).
const (
	hashSeed = 1
	// maxTraffic is the width of the bucket space: endOfRange values are in
	// hundredths of a percent.
	maxTraffic = 10000
	// keyBufSize bounds the stack buffer the bucketing key is built in.
	// ups limits user IDs to 512 bytes and entity IDs are short numbers, so
	// longer keys (a huge $opt_bucketing_id) are rare enough to allocate.
	keyBufSize = 640
)

// bucketingIDAttribute is the attribute that, when it holds a string,
// replaces the user ID for bucketing (not for whitelisting or profiles).
const bucketingIDAttribute = "$opt_bucketing_id"

// bucketValue returns the bucket in [0, 9999] of bucketingID+entityID.
//
// The key is assembled in a stack buffer rather than by string
// concatenation so bucketing does not allocate. The float64 arithmetic
// matters: float32 rounds hash values near 2^32 up to bucket 10000, which
// falls outside every allocation (go-sdk PR #423 fixed that after v2.0.0).
func bucketValue(bucketingID, entityID string) int {
	var buf [keyBufSize]byte
	var key []byte
	if n := len(bucketingID) + len(entityID); n <= len(buf) {
		key = buf[:0]
	} else {
		key = make([]byte, 0, n)
	}
	key = append(key, bucketingID...)
	key = append(key, entityID...)
	return bucketOf(murmur3.SeedSum32(hashSeed, key))
}

// bucketOf scales a hash to [0, maxTraffic).
func bucketOf(h uint32) int {
	return int(math.Floor(float64(h) / (1 << 32) * maxTraffic))
}

// trafficRange is one entry of a trafficAllocation: buckets below end (and
// at or above the previous entry's end) go to the entry's entity.
type trafficRange[T any] struct {
	end    int
	entity *T // nil for an empty entityId: "not in the experiment"
}

// allocate walks ranges in order and returns the entity of the first one
// whose end is above bucket, or nil. Ranges are not required to be sorted:
// the SDKs take the first match, so do we.
func allocate[T any](ranges []trafficRange[T], bucket int) *T {
	for _, r := range ranges {
		if bucket < r.end {
			return r.entity
		}
	}
	return nil
}

// bucketingID returns the ID that bucketing hashes: the $opt_bucketing_id
// attribute when it is a string, else the user ID. ok is false when the
// attribute is present but not a string, so the caller can say so.
func bucketingID(u *User) (id string, ok bool) {
	v, present := u.Attributes[bucketingIDAttribute]
	if !present {
		return u.ID, true
	}
	if s, isString := v.(string); isString {
		return s, true
	}
	return u.ID, false
}
