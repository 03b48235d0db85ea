package main

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stickybucket/stickybucket/decision"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		line    string
		want    request
		wantErr string
	}{
		{`{"user_id": "u1", "experiment": "e"}`, request{UserID: "u1", Experiment: "e"}, ""},
		{`{"user_id": "u1", "flag": "f", "attributes": {"age": 30, "pro": true, "c": "de"}, "options": ["INCLUDE_REASONS"]}`,
			request{UserID: "u1", IsFlag: true, Flag: "f", Attributes: map[string]any{"age": 30.0, "pro": true, "c": "de"},
				Options: []decision.Option{decision.IncludeReasons}}, ""},
		{`{"user_id": "u1", "experiment": "", "attributes": null}`, request{UserID: "u1", Experiment: ""}, ""},
		{`{"user_id": "u1", "experiment": "e"`, request{}, "invalid JSON"},
		{`not json`, request{}, "invalid JSON"},
		{`{"user_id": "u1", "experiment": "e"} {"user_id": "u2"}`, request{}, "more than one value"},
		{`{"experiment": "e"}`, request{}, `missing "user_id"`},
		{`{"user_id": "", "experiment": "e"}`, request{}, `"user_id" is empty`},
		{`{"user_id": 7, "experiment": "e"}`, request{}, `"user_id" must be a string, got number 7`},
		{`{"user_id": null, "experiment": "e"}`, request{}, `missing "user_id"`},
		{`{"user_id": "u1", "flag": ["f"]}`, request{}, `"flag" must be a string, got an array`},
		{`{"user_id": "u1", "experiment": null, "flag": "f"}`, request{UserID: "u1", IsFlag: true, Flag: "f"}, ""},
		{`{"user_id": "\ud83d\ude00", "experiment": "e"}`, request{UserID: "\U0001F600", Experiment: "e"}, ""},
		{`{"user_id": "a\\ud800", "experiment": "e"}`, request{UserID: `a\ud800`, Experiment: "e"}, ""},
		{`{"user_id": "u1"}`, request{}, `one of "experiment" or "flag" is required`},
		{`{"user_id": "u1", "experiment": "e", "flag": "f"}`, request{}, `not both`},
		{`{"user_id": "u1", "flag": "f", "attributes": [1]}`, request{}, `"attributes" must be an object, got an array`},
		{`{"user_id": "u1", "flag": "f", "options": ["SHOUT"]}`, request{}, `"options[0]": unknown decide option "SHOUT"`},
		{`{"user_id": "u1", "flag": "f", "options": [null]}`, request{}, `"options[0]" must be a string, got null`},
		{`{"user_id": "u1", "flag": "f", "options": "INCLUDE_REASONS"}`, request{}, `"options" must be an array of strings, got a string`},
		{`["user_id"]`, request{}, "a request must be a JSON object"},
		// Numbers that do not fit a float64 name the attribute.
		{`{"user_id": "u1", "flag": "f", "attributes": {"ok": 1, "big": 1e400}}`, request{}, `attribute "big": number 1e400 does not fit in a 64-bit float`},
		{`{"user_id": "u1", "flag": "f", "attributes": {"list": [1, -1e400]}}`, request{}, `attribute "list": number -1e400 does not fit`},
		{`{"user_id": "u1", "flag": "f", "attributes": {"tiny": 1e-400, "b": false, "n": null, "o": {"x": "y"}}}`,
			request{UserID: "u1", IsFlag: true, Flag: "f", Attributes: map[string]any{"tiny": 0.0, "b": false, "n": nil, "o": map[string]any{"x": "y"}}}, ""},
		// Lone surrogate escapes would decode to U+FFFD like invalid bytes.
		{`{"user_id": "\ud800", "experiment": "e"}`, request{}, `"user_id" is not valid Unicode text: lone UTF-16 surrogate escape \ud800`},
		{`{"user_id": "x\udc00", "experiment": "e"}`, request{}, `"user_id" is not valid Unicode text: lone UTF-16 surrogate escape \udc00`},
		{`{"user_id": "\ud800\u0041", "experiment": "e"}`, request{}, `lone UTF-16 surrogate escape \ud800`},
		{`{"user_id": "u1", "experiment": "e\uDBFF"}`, request{}, `"experiment" is not valid Unicode text`},
		{`{"user_id": "u1", "flag": "f", "attributes": {"$opt_bucketing_id": "\udfff"}}`, request{}, `attribute "$opt_bucketing_id": value is not valid Unicode text`},
		{`{"user_id": "u1", "flag": "f", "attributes": {"\ud800": 1}}`, request{}, `attribute name "\"\\ud800\"" is not valid Unicode text`},
	}
	for _, tt := range tests {
		checkParse(t, tt.line, tt.want, tt.wantErr)
	}
}

func checkParse(t *testing.T, line string, want request, wantErr string) {
	t.Helper()
	got, err := parseRequest([]byte(line))
	switch {
	case wantErr != "":
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("parseRequest(%s) = %v, want an error containing %q", line, err, wantErr)
		}
	case err != nil:
		t.Errorf("parseRequest(%s): %v", line, err)
	case !reflect.DeepEqual(got, want):
		t.Errorf("parseRequest(%s) = %+v, want %+v", line, got, want)
	}
}

// TestParseRequestInvalidUTF8 feeds raw invalid bytes, which a Go string
// literal in a table would hide: each must be an error naming the field,
// never decoded to U+FFFD.
func TestParseRequestInvalidUTF8(t *testing.T) {
	for _, bad := range []string{"\xff\xfe", "\xc0\xc1", "ok\x80", "\xed\xa0\x80" /* UTF-8 encoded surrogate */} {
		for _, tt := range []struct{ line, field string }{
			{`{"user_id": "` + bad + `", "experiment": "e"}`, `"user_id"`},
			{`{"user_id": "u", "flag": "` + bad + `"}`, `"flag"`},
			{`{"user_id": "u", "flag": "f", "attributes": {"a": ["` + bad + `"]}}`, `attribute "a": value`},
			{`{"user_id": "u", "flag": "f", "attributes": {"` + bad + `": 1}}`, `attribute name`},
		} {
			_, err := parseRequest([]byte(tt.line))
			if err == nil || !strings.Contains(err.Error(), tt.field) || !strings.Contains(err.Error(), "invalid UTF-8 byte") {
				t.Errorf("parseRequest(%q) = %v, want an invalid UTF-8 error naming %s", tt.line, err, tt.field)
			}
			if err != nil && !utf8.ValidString(err.Error()) {
				t.Errorf("parseRequest(%q): the message is not valid UTF-8: %q", tt.line, err)
			}
		}
	}
}

// TestParseRequestMessagesAreBounded: long values are cut in messages.
func TestParseRequestMessagesAreBounded(t *testing.T) {
	digits := "1" + strings.Repeat("0", 5000)
	long := strings.Repeat("x", 10_000)
	for _, line := range []string{
		`{"user_id": "u", "flag": "f", "attributes": {"n": ` + digits + `}}`,
		`{"user_id": ` + digits + `, "flag": "f"}`,
		`{"user_id": "u", "flag": "f", "options": ["` + long + `"]}`,
		`{"user_id": "u", "flag": "f", "attributes": {"` + long + `\ud800": 1}}`,
		`{"user_id": "u", "flag": "f", "attributes": {"` + long + `": 1e999}}`,
		`{"user_id": "u", "flag": "f", "attributes": ` + digits + `}`,
	} {
		_, err := parseRequest([]byte(line))
		if err == nil {
			t.Errorf("parseRequest(%.80s…) succeeded, want an error", line)
			continue
		}
		if len(err.Error()) > 300 || !strings.Contains(err.Error(), "…") {
			t.Errorf("parseRequest(%.80s…): message of %d bytes, want it cut to a short one with …: %.400s", line, len(err.Error()), err)
		}
	}
}
