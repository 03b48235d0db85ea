package ups

import (
	"bytes"
	"time"
)

// decodeCanonical decodes the exact form MarshalJSON writes, which is what
// exports and most tools hold:
//
//	{"user_id":"u","experiment_bucket_map":{"e":{"variation_id":"v"},…}}
//
// each entry possibly with ,"decided_at":"…" and then ,"expires_at":"…"
// (RFC 3339) after its variation_id.
//
// with no whitespace and every string plain printable ASCII without escapes.
// It reports ok = false for anything else, and UnmarshalJSON then decodes
// in full. On what it accepts the full decoder gives the same profile
// (FuzzCanonicalMatchesFull), at a small fraction of the cost: a bulk
// import spends most of its client time decoding otherwise.
func decodeCanonical(data []byte) (p Profile, ok bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"user_id":`))
	if !ok {
		return Profile{}, false
	}
	userID, rest, ok := plainString(rest)
	if !ok {
		return Profile{}, false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte(`,"experiment_bucket_map":{`)); !ok {
		return Profile{}, false
	}
	p = Profile{UserID: userID, Assignments: map[string]Assignment{}}
	if rest, ok = bytes.CutPrefix(rest, []byte(`}}`)); ok {
		return p, len(rest) == 0
	}
	for {
		var expID, varID string
		if expID, rest, ok = plainString(rest); !ok {
			return Profile{}, false
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(`:{"variation_id":`)); !ok {
			return Profile{}, false
		}
		if varID, rest, ok = plainString(rest); !ok {
			return Profile{}, false
		}
		a := Assignment{VariationID: varID}
		if rest, ok = canonicalTime(rest, `,"decided_at":`, &a.DecidedAt); !ok {
			return Profile{}, false
		}
		if rest, ok = canonicalTime(rest, `,"expires_at":`, &a.ExpiresAt); !ok {
			return Profile{}, false
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(`}`)); !ok {
			return Profile{}, false
		}
		p.Assignments[expID] = a
		if rest, ok = bytes.CutPrefix(rest, []byte(`,`)); ok {
			continue
		}
		if rest, ok = bytes.CutPrefix(rest, []byte(`}}`)); ok && len(rest) == 0 {
			return p, true
		}
		return Profile{}, false
	}
}

// canonicalTime reads an optional time field: key, then an RFC 3339 string
// into dst. Without key it leaves data as it is; a key with anything but
// such a time is not canonical.
func canonicalTime(data []byte, key string, dst *time.Time) ([]byte, bool) {
	rest, found := bytes.CutPrefix(data, []byte(key))
	if !found {
		return data, true
	}
	text, rest, ok := plainString(rest)
	if !ok {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return nil, false
	}
	*dst = t
	return rest, true
}

// plainString reads a JSON string at the start of data whose characters are
// all printable ASCII other than '"' and '\\': JSON decodes it to its bytes
// unchanged.
func plainString(data []byte) (s string, rest []byte, ok bool) {
	if len(data) == 0 || data[0] != '"' {
		return "", nil, false
	}
	for i := 1; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			return string(data[1:i]), data[i+1:], true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", nil, false
		}
	}
	return "", nil, false
}
