package jsonstring

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestAppendAsEncodingJSON: what Append writes is what encoding/json
// writes without HTML escaping.
func TestAppendAsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "\n\r\t\x00\x1f", "<a&b>", "é漢🙂", "bad\xffutf8\xc3", "\u2028\u2029", "mixed\x7f\u0080"} {
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if got := string(Append(nil, s)); got != string(bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
			t.Errorf("%q: %s, want %s", s, got, want.Bytes())
		}
	}
}
