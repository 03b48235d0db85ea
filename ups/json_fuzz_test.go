package ups

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzProfileJSON checks the Optimizely profile schema reader on any
// input: it never panics, what it accepts is valid and survives a round
// trip, and its messages stay short. The seed corpus is in
// testdata/fuzz/FuzzProfileJSON/.
func FuzzProfileJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Profile
		err := json.Unmarshal(data, &p)
		if err != nil {
			if msg := err.Error(); len(msg) > 1024 || !utf8.ValidString(msg) {
				t.Fatalf("message of %d bytes (valid UTF-8: %v): %.300q", len(msg), utf8.ValidString(msg), msg)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted an invalid profile: %v", err)
		}
		// A U+FFFD in what was accepted must come from the input itself,
		// never from decoding replacing invalid text.
		mayHold := bytes.Contains(data, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(data), []byte(`\ufffd`))
		ids := []string{p.UserID}
		for expID, a := range p.Assignments {
			ids = append(ids, expID, a.VariationID)
		}
		for _, id := range ids {
			if strings.ContainsRune(id, utf8.RuneError) && !mayHold {
				t.Fatalf("accepted text that decoding replaced: %q", data)
			}
		}
		out, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var back Profile
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("reading back %s: %v", out, err)
		}
		if !reflect.DeepEqual(p, back) {
			t.Fatalf("round trip: %+v became %+v", p, back)
		}
	})
}
