package server

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"testing"
)

// TestAppendValueMatchesEncodingJSON checks the hand-written encoder
// against encoding/json on the values decisions carry.
func TestAppendValueMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, 0, -7, 1 << 40, int64(-3), 0.5, 2.5e-7, 1e21, 123456789.125, -0.0, 1e-6,
		"", "plain", "quote \" backslash \\ newline \n tab \t nul \x00 bell \x07", "<a href='x'>&amp;</a>",
		"ünïcödé ✓ 𝄞", "\u2028\u2029", "bad \xff utf8",
		map[string]any{"b": 1.0, "a": []any{"x", true, nil}, "": map[string]any{}},
		[]any{}, json.Number("12.50"),
	}
	for _, v := range values {
		want, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var wantAny, gotAny any
		got := appendValue(nil, v)
		if err := json.Unmarshal(got, &gotAny); err != nil {
			t.Errorf("appendValue(%#v) = %s: not JSON: %v", v, got, err)
			continue
		}
		_ = json.Unmarshal(want, &wantAny)
		if g, w := mustJSON(t, gotAny), mustJSON(t, wantAny); g != w {
			t.Errorf("appendValue(%#v) = %s, want %s", v, got, want)
		}
		if s, ok := v.(string); ok && string(got) != string(want) {
			// encoding/json escapes <, > and & too; ours must still decode
			// to the same string.
			var back string
			if err := json.Unmarshal(got, &back); err != nil || back != string([]rune(s)) && back != stringFromJSON(t, want) {
				t.Errorf("appendString(%q) = %s decodes to %q", s, got, back)
			}
		}
	}
	for _, f := range []float64{math.NaN(), math.Inf(1)} {
		if got := string(appendValue(nil, f)); got != "null" {
			t.Errorf("appendValue(%v) = %s, want null", f, got)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stringFromJSON(t *testing.T, b []byte) string {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAppendFloatFormats(t *testing.T) {
	for f, want := range map[float64]string{1: "1", 0.1: "0.1", 1e21: "1e+21", 1e-7: "1e-7", 123.456: "123.456", 100: "100"} {
		if got := string(appendFloat(nil, f)); got != want {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

func TestQueryValues(t *testing.T) {
	for _, tt := range []struct {
		raw  string
		want []string
	}{
		{"keys=a&keys=b", []string{"a", "b"}},
		{"x=1&keys=a%20b&k%65ys=c&keys=d+e", []string{"a b", "c", "d e"}},
		{"", nil},
		{"keys=", []string{""}},
	} {
		got, err := queryValues(tt.raw, "keys")
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("queryValues(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
		want, _ := url.ParseQuery(tt.raw)
		if fmt.Sprint(want["keys"]) != fmt.Sprint(got) {
			t.Errorf("queryValues(%q) = %q, url.ParseQuery gives %q", tt.raw, got, want["keys"])
		}
	}
	if _, err := queryValues("keys=%zz", "keys"); err == nil {
		t.Error("a bad escape was accepted")
	}
}
