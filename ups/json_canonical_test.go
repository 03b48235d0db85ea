package ups

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestExportFormTakesTheCanonicalPath(t *testing.T) {
	for _, p := range []Profile{
		NewProfile("user-1"),
		{UserID: "u 2", Assignments: map[string]Assignment{"1001": {VariationID: "2001"}}},
		{UserID: "user-3", Assignments: map[string]Assignment{"b": {VariationID: "x"}, "a": {VariationID: "y"}, "c": {VariationID: "z~"}}},
	} {
		line, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := decodeCanonical(line)
		if !ok {
			t.Errorf("MarshalJSON's %s is not decoded by the canonical path", line)
			continue
		}
		if !reflect.DeepEqual(got, p.Clone()) && !(len(got.Assignments) == 0 && len(p.Assignments) == 0 && got.UserID == p.UserID) {
			t.Errorf("canonical path decoded %s as %+v", line, got)
		}
	}
}

func TestOtherFormsTakeTheFullPath(t *testing.T) {
	for _, in := range []string{
		`{"user_id": "u", "experiment_bucket_map": {}}`,                       // spaces
		`{"experiment_bucket_map":{},"user_id":"u"}`,                          // key order
		`{"user_id":"\u0075","experiment_bucket_map":{}}`,                     // an escape
		`{"user_id":"ü","experiment_bucket_map":{}}`,                          // not ASCII
		`{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":"2"},}}`, // invalid JSON
		`{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":"2","x":1}}}`,
		`{"user_id":"u","experiment_bucket_map":{}} `,
		`{"user_id":"u","experiment_bucket_map":{}}}`,
		`{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":"2"}}`,
	} {
		if p, ok := decodeCanonical([]byte(in)); ok {
			t.Errorf("canonical path accepted %s as %+v", in, p)
		}
	}
	// They still decode, or fail, as before.
	var p Profile
	if err := json.Unmarshal([]byte(`{"user_id":"\u0075","experiment_bucket_map":{"1":{"variation_id":"2"}}}`), &p); err != nil || p.UserID != "u" {
		t.Errorf("escaped form = %+v, %v", p, err)
	}
}

func TestCanonicalPathStillValidates(t *testing.T) {
	var p Profile
	err := json.Unmarshal([]byte(`{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":""}}}`), &p)
	if err == nil || !strings.Contains(err.Error(), `experiment "1": invalid profile: variation_id is empty`) {
		t.Errorf("empty variation in canonical form: %v", err)
	}
}

// FuzzCanonicalMatchesFull checks that whatever the canonical path
// accepts, the full decoder decodes to the same profile, or that both end
// rejected once validated (the full decoder checks IDs as it goes).
func FuzzCanonicalMatchesFull(f *testing.F) {
	for _, s := range []string{
		`{"user_id":"u","experiment_bucket_map":{}}`,
		`{"user_id":"user-1","experiment_bucket_map":{"1001":{"variation_id":"2001"},"1002":{"variation_id":"2005"}}}`,
		`{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":"a"},"1":{"variation_id":"b"}}}`,
		`{"user_id":"","experiment_bucket_map":{"":{"variation_id":""}}}`,
		`{"user_id":"a\"b","experiment_bucket_map":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeCanonical(data)
		if !ok {
			return
		}
		full, err := decodeFull(data)
		if err != nil {
			if fast.Validate() == nil {
				t.Fatalf("canonical path accepted %q, the full decoder rejects it: %v", data, err)
			}
			return
		}
		if !reflect.DeepEqual(fast, full) {
			t.Fatalf("%q: canonical path %+v, full decoder %+v", data, fast, full)
		}
	})
}
