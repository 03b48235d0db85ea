package main

import (
	"reflect"
	"strings"
	"testing"

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
		{`["user_id"]`, request{}, "invalid JSON"},
		{`{"experiment": "e"}`, request{}, `missing "user_id"`},
		{`{"user_id": "", "experiment": "e"}`, request{}, `"user_id" is empty`},
		{`{"user_id": 7, "experiment": "e"}`, request{}, "invalid JSON"},
		{`{"user_id": "u1"}`, request{}, `one of "experiment" or "flag" is required`},
		{`{"user_id": "u1", "experiment": "e", "flag": "f"}`, request{}, `not both`},
		{`{"user_id": "u1", "flag": "f", "attributes": [1]}`, request{}, `"attributes" must be an object`},
		{`{"user_id": "u1", "flag": "f", "options": ["SHOUT"]}`, request{}, `SHOUT`},
		{`{"user_id": "u1", "flag": "f", "options": "INCLUDE_REASONS"}`, request{}, "invalid JSON"},
	}
	for _, tt := range tests {
		got, err := parseRequest([]byte(tt.line))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseRequest(%s) = %v, want an error containing %q", tt.line, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseRequest(%s): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseRequest(%s) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}
