package ups

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateJSONText(t *testing.T) {
	tests := []struct {
		raw  string
		want string // "" for valid
	}{
		{`"plain"`, ""},
		{`"é \u00e9 \ud83d\ude00 😀"`, ""},
		{`"\\ud800"`, ""}, // an escaped backslash, then text
		{`"\\\ud800"`, `lone UTF-16 surrogate escape \ud800 at offset 3`},
		{`{"a": ["\uDBFF\uDFFF"]}`, ""},
		{`"\ud800"`, `lone UTF-16 surrogate escape \ud800 at offset 1`},
		{`"\udc00\ud800"`, `\udc00`},
		{`"\ud800\u0041"`, `\ud800`},
		{`"\ud800\ud800"`, `\ud800`},
		{`"x\ud800`, `\ud800`}, // truncated: still reported
		{"\"\xff\"", "invalid UTF-8 byte 0xff at offset 1"},
		{"\"\xed\xa0\x80\"", "invalid UTF-8 byte 0xed"}, // a surrogate encoded in UTF-8
		{"{\"k\xc0\": 1}", "invalid UTF-8 byte 0xc0 at offset 3"},
	}
	for _, tt := range tests {
		err := ValidateJSONText([]byte(tt.raw))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("ValidateJSONText(%q) = %v, want valid", tt.raw, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrNotText)):
			t.Errorf("ValidateJSONText(%q) = %v, want ErrNotText containing %q", tt.raw, err, tt.want)
		}
	}
}

// TestValidateJSONTextMatchesDecoding: whatever it accepts, encoding/json
// decodes without replacing anything, so decoding and re-encoding keeps
// every string as it was.
func TestValidateJSONTextMatchesDecoding(t *testing.T) {
	for _, raw := range []string{`"\ud83d\ude00"`, `"a\u0000b"`, `"\\u"`, "\"\u2028\"", `"\ufffd"`} {
		if err := ValidateJSONText([]byte(raw)); err != nil {
			t.Fatalf("ValidateJSONText(%s): %v", raw, err)
		}
		var s string
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			t.Fatal(err)
		}
		if strings.ContainsRune(s, '\ufffd') && !strings.Contains(raw, `\ufffd`) {
			t.Errorf("%s decoded with a replacement character", raw)
		}
	}
}
