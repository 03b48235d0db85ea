package main

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stickybucket/stickybucket/decision"
)

// parseRequestCases are request lines with the field names of the HTTP
// API, and what parseRequest makes of them.
var parseRequestCases = []struct {
	line    string
	want    request
	wantErr string
}{
	{`{"userId": "u1", "experiment": "e"}`, request{UserID: "u1", Experiment: "e"}, ""},
	{`{"userId": "u1", "flag": "f", "userAttributes": {"age": 30, "pro": true, "c": "de"}, "decideOptions": ["INCLUDE_REASONS"]}`,
		request{UserID: "u1", IsFlag: true, Flag: "f", Attributes: map[string]any{"age": 30.0, "pro": true, "c": "de"},
			Options: []decision.Option{decision.IncludeReasons}}, ""},
	{`{"userId": "u1", "experiment": "", "userAttributes": null}`, request{UserID: "u1", Experiment: ""}, ""},
	{`{"userId": "u1", "experiment": "e"`, request{}, "invalid JSON"},
	{`not json`, request{}, "invalid JSON"},
	{`{"userId": "u1", "experiment": "e"} {"userId": "u2"}`, request{}, "more than one value"},
	{`{"experiment": "e"}`, request{}, `missing "userId"`},
	{`{"userId": "", "experiment": "e"}`, request{}, `"userId" is empty`},
	{`{"userId": 7, "experiment": "e"}`, request{}, `"userId" must be a string, got number 7`},
	{`{"userId": null, "experiment": "e"}`, request{}, `missing "userId"`},
	{`{"userId": "u1", "flag": ["f"]}`, request{}, `"flag" must be a string, got an array`},
	{`{"userId": "u1", "experiment": null, "flag": "f"}`, request{UserID: "u1", IsFlag: true, Flag: "f"}, ""},
	{`{"userId": "\ud83d\ude00", "experiment": "e"}`, request{UserID: "\U0001F600", Experiment: "e"}, ""},
	{`{"userId": "a\\ud800", "experiment": "e"}`, request{UserID: `a\ud800`, Experiment: "e"}, ""},
	{`{"userId": "u1"}`, request{}, `one of "experiment" or "flag" is required`},
	{`{"userId": "u1", "experiment": "e", "flag": "f"}`, request{}, `not both`},
	{`{"userId": "u1", "flag": "f", "userAttributes": [1]}`, request{}, `"userAttributes" must be an object, got an array`},
	{`{"userId": "u1", "flag": "f", "decideOptions": ["SHOUT"]}`, request{}, `"decideOptions[0]": unknown decide option "SHOUT"`},
	{`{"userId": "u1", "flag": "f", "decideOptions": [null]}`, request{}, `"decideOptions[0]" must be a string, got null`},
	{`{"userId": "u1", "flag": "f", "decideOptions": "INCLUDE_REASONS"}`, request{}, `"decideOptions" must be an array of strings, got a string`},
	{`["userId"]`, request{}, "a request must be a JSON object"},
	// forcedDecisions as the HTTP API takes them, for flags only.
	{`{"userId": "u1", "flag": "f", "forcedDecisions": [{"flagKey": "f", "variationKey": "v"}, {"flagKey": "f", "ruleKey": "r", "variationKey": "w", "note": 1}, {}]}`,
		request{UserID: "u1", IsFlag: true, Flag: "f", Forced: []decision.ForcedDecision{{FlagKey: "f", VariationKey: "v"}, {FlagKey: "f", RuleKey: "r", VariationKey: "w"}, {}}}, ""},
	{`{"userId": "u1", "flag": "f", "forcedDecisions": null}`, request{UserID: "u1", IsFlag: true, Flag: "f"}, ""},
	{`{"userId": "u1", "experiment": "e", "forcedDecisions": [{"flagKey": "f", "variationKey": "v"}]}`, request{}, `"forcedDecisions" apply to flags`},
	{`{"userId": "u1", "flag": "f", "forcedDecisions": {"flagKey": "f"}}`, request{}, `"forcedDecisions" must be an array of objects, got an object`},
	{`{"userId": "u1", "flag": "f", "forcedDecisions": ["f"]}`, request{}, `"forcedDecisions[0]" must be an object, got a string`},
	{`{"userId": "u1", "flag": "f", "forcedDecisions": [{"flagKey": 7}]}`, request{}, `"forcedDecisions[0].flagKey" must be a string, got number 7`},
	{`{"userId": "u1", "flag": "f", "forcedDecisions": [{"flag_key": "f"}]}`, request{}, `unknown field "flag_key" in "forcedDecisions[0]": field names are exact, write "flagKey"`},
	{`{"userId": "u1", "flag": "f", "forced_decisions": []}`, request{}, `unknown field "forced_decisions": field names are exact, write "forcedDecisions"`},
	{`{"userId": "u1", "flag": "f", "forcedDecisions": [{"flagKey": "\ud800"}]}`, request{}, `"forcedDecisions[0].flagKey" is not valid Unicode text`},
	// Numbers that do not fit a float64 name the attribute.
	{`{"userId": "u1", "flag": "f", "userAttributes": {"ok": 1, "big": 1e400}}`, request{}, `attribute "big": number 1e400 does not fit in a 64-bit float`},
	{`{"userId": "u1", "flag": "f", "userAttributes": {"list": [1, -1e400]}}`, request{}, `attribute "list": number -1e400 does not fit`},
	{`{"userId": "u1", "flag": "f", "userAttributes": {"tiny": 1e-400, "b": false, "n": null, "o": {"x": "y"}}}`,
		request{UserID: "u1", IsFlag: true, Flag: "f", Attributes: map[string]any{"tiny": 0.0, "b": false, "n": nil, "o": map[string]any{"x": "y"}}}, ""},
	// Lone surrogate escapes would decode to U+FFFD like invalid bytes.
	{`{"userId": "\ud800", "experiment": "e"}`, request{}, `"userId" is not valid Unicode text: lone UTF-16 surrogate escape \ud800`},
	{`{"userId": "x\udc00", "experiment": "e"}`, request{}, `"userId" is not valid Unicode text: lone UTF-16 surrogate escape \udc00`},
	{`{"userId": "\ud800\u0041", "experiment": "e"}`, request{}, `lone UTF-16 surrogate escape \ud800`},
	{`{"userId": "u1", "experiment": "e\uDBFF"}`, request{}, `"experiment" is not valid Unicode text`},
	{`{"userId": "u1", "flag": "f", "userAttributes": {"$opt_bucketing_id": "\udfff"}}`, request{}, `attribute "$opt_bucketing_id": value is not valid Unicode text`},
	{`{"userId": "u1", "flag": "f", "userAttributes": {"\ud800": 1}}`, request{}, `attribute name "\"\\ud800\"" is not valid Unicode text`},
}

func TestParseRequest(t *testing.T) {
	for _, tt := range parseRequestCases {
		checkParse(t, tt.line, tt.want, tt.wantErr)
	}
	// More forced decisions than the service takes are refused too.
	line := `{"userId": "u1", "flag": "f", "forcedDecisions": [` + strings.Repeat(`{},`, decision.MaxForcedDecisions) + `{}]}`
	checkParse(t, line, request{}, `"forcedDecisions": 101 entries, over the limit of 100`)
}

// TestParseRequestDeprecatedNames: the names request lines had before
// (user_id, attributes, options) are read as ever, said to be deprecated,
// and named as written in messages.
func TestParseRequestDeprecatedNames(t *testing.T) {
	toOld := strings.NewReplacer(`"userId"`, `"user_id"`, `"userAttributes"`, `"attributes"`, `"decideOptions`, `"options`)
	for _, tt := range parseRequestCases {
		line, want, wantErr := toOld.Replace(tt.line), tt.want, toOld.Replace(tt.wantErr)
		if strings.Contains(tt.wantErr, `missing "userId"`) {
			wantErr = tt.wantErr // the message names the field to write
		}
		if wantErr == "" {
			for _, old := range []string{"user_id", "attributes", "options"} {
				if strings.Contains(line, `"`+old+`"`) {
					want.Deprecated = append(want.Deprecated, old)
				}
			}
		}
		checkParse(t, line, want, wantErr)
	}
}

// TestParseRequestNamesAreExact: a name that differs from a field's only
// in case, underscores or dashes is refused with the name to write, where
// a decoder that matches names loosely would have taken it; a field given
// under both its names is refused; other unknown fields are ignored.
func TestParseRequestNamesAreExact(t *testing.T) {
	for _, tt := range []struct{ line, wantErr string }{
		{`{"userid": "u1", "experiment": "e"}`, `unknown field "userid": field names are exact, write "userId"`},
		{`{"UserId": "u1", "experiment": "e"}`, `unknown field "UserId": field names are exact, write "userId"`},
		{`{"USER_ID": "u1", "experiment": "e"}`, `unknown field "USER_ID": field names are exact, write "userId"`},
		{`{"userId": "u1", "Experiment": "e"}`, `unknown field "Experiment": field names are exact, write "experiment"`},
		{`{"userId": "u1", "flag": "f", "user-attributes": {}}`, `unknown field "user-attributes": field names are exact, write "userAttributes"`},
		{`{"userId": "u1", "flag": "f", "Attributes": {}}`, `unknown field "Attributes": field names are exact, write "userAttributes"`},
		{`{"userId": "u1", "flag": "f", "decide_options": []}`, `unknown field "decide_options": field names are exact, write "decideOptions"`},
		{`{"userId": "u1", "user_id": "u2", "experiment": "e"}`, `give "userId" or its deprecated name "user_id", not both`},
		{`{"userId": "u1", "flag": "f", "userAttributes": {}, "attributes": {}}`, `give "userAttributes" or its deprecated name "attributes", not both`},
	} {
		checkParse(t, tt.line, request{}, tt.wantErr)
	}
	checkParse(t, `{"userId": "u1", "experiment": "e", "comment": "ignored", "fetchSegments": true}`, request{UserID: "u1", Experiment: "e"}, "")
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
			{`{"userId": "` + bad + `", "experiment": "e"}`, `"userId"`},
			{`{"userId": "u", "flag": "` + bad + `"}`, `"flag"`},
			{`{"userId": "u", "flag": "f", "userAttributes": {"a": ["` + bad + `"]}}`, `attribute "a": value`},
			{`{"userId": "u", "flag": "f", "userAttributes": {"` + bad + `": 1}}`, `attribute name`},
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
		`{"userId": "u", "flag": "f", "userAttributes": {"n": ` + digits + `}}`,
		`{"userId": ` + digits + `, "flag": "f"}`,
		`{"userId": "u", "flag": "f", "decideOptions": ["` + long + `"]}`,
		`{"userId": "u", "flag": "f", "userAttributes": {"` + long + `\ud800": 1}}`,
		`{"userId": "u", "flag": "f", "userAttributes": {"` + long + `": 1e999}}`,
		`{"userId": "u", "flag": "f", "userAttributes": ` + digits + `}`,
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
