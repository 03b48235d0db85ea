package decision

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"

	"github.com/optimizely/go-sdk/v2/pkg/decision/evaluator/matchers"
	optentities "github.com/optimizely/go-sdk/v2/pkg/entities"
)

// These tests hold single conditions to the official Go SDK's matchers (run
// in-process) over a grid of condition values and attribute values of many
// Go types. Only the documented differences may disagree: unsafe numbers
// (not finite, beyond 2^53), which are null here.

type quietLog struct{}

func (quietLog) Debug(string)      {}
func (quietLog) Info(string)       {}
func (quietLog) Warning(string)    {}
func (quietLog) Error(string, any) {}

type age int

func officialLeaf(typ, name, match string, value any, attrs map[string]any) tri {
	if typ != "custom_attribute" && typ != "third_party_dimension" {
		return triNull
	}
	if match == "" {
		match = matchers.ExactMatchType
	}
	m, ok := matchers.Get(match)
	if !ok {
		return triNull
	}
	cond := optentities.Condition{Type: typ, Name: name, Match: match, Value: value}
	got, err := m(cond, optentities.UserContext{ID: "u", Attributes: attrs}, quietLog{})
	if err != nil {
		return triNull
	}
	return triOf(got)
}

// unsafeValue reports a number we refuse to compare (see safeFloat).
func unsafeValue(v any) bool {
	switch reflect.ValueOf(v).Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		_, ok := number(v)
		return !ok
	}
	return false
}

func TestLeafMatchesOfficialSDK(t *testing.T) {
	eighteen := 18
	conditionValues := []any{"us", "", "1.2.3", true, false, 0.0, 18.0, -3.0, 1.5, 1e16, math.MaxFloat64, nil, []any{1.0}, map[string]any{}}
	attrValues := []any{
		"us", "", "usa", "1.2.3", "1.2", "18", true, false,
		0, 18, int8(18), int16(-3), int32(18), int64(18), uint(18), uint8(0), uint16(18), uint32(18), uint64(18),
		float32(1.5), 1.5, 18.0, -3.0, float32(18),
		age(18), &eighteen,
		1e16, math.Inf(1), math.NaN(), int64(1<<53 + 1), uint64(1 << 60), float64(1 << 53),
		nil, []string{"us"}, map[string]any{"a": 1},
	}
	matches := []string{"", "exact", "exists", "substring", "gt", "ge", "lt", "le", "qualified", "regex"}
	types := []string{"custom_attribute", "third_party_dimension", "custom_dimension", ""}
	compared := 0
	for _, typ := range types {
		for _, match := range matches {
			for _, cv := range conditionValues {
				for i, av := range append(attrValues, "missing") {
					attrs := map[string]any{"a": av}
					if i == len(attrValues) {
						attrs = map[string]any{"other": 1}
					}
					c := newCondition(typ, "a", match, cv)
					ours := c.eval(attrs)
					official := officialLeaf(typ, "a", match, cv, attrs)
					if ours == official {
						compared++
						continue
					}
					documented := false
					switch {
					case match == "" || match == "exact" || match == "gt" || match == "ge" || match == "lt" || match == "le":
						documented = ours == triNull && (unsafeValue(cv) || unsafeValue(attrs["a"]))
					}
					if !documented {
						t.Errorf("type %q match %q value %#v, attribute %T(%v): ours %s, official %s", typ, match, cv, av, av, ours, official)
					}
				}
			}
		}
	}
	if compared < 10000 {
		t.Fatalf("only %d combinations agreed", compared)
	}
}

var semverPool = []string{
	"", " ", "1", "1.2", "1.2.3", "1.2.4", "1.10.0", "2", "2.0.0", "0.9.9", "01.2.3",
	"1.2.3-beta", "1.2.3-beta.2", "1.2.3-alpha", "1.2.3+build.7", "1.2.3+build.8", "2.0.0-rc.1+build.1",
	"1.2.3+build-7", "1.2.3-", "1.2.3+", "1.2.3-4", "1.2.3-10", "1.2-beta", "1-beta", "1.2.3.4",
	"-1", "1.-2", "a.b", "1..2", "v1.2.3", "1.2.3 ", "99999999999999999999.1", "3.7.0-prerelease+build",
}

func TestSemverMatchesOfficialSDK(t *testing.T) {
	for _, match := range []string{"semver_eq", "semver_gt", "semver_ge", "semver_lt", "semver_le"} {
		for _, cv := range semverPool {
			for _, av := range semverPool {
				attrs := map[string]any{"v": av}
				ours := newCondition("custom_attribute", "v", match, cv).eval(attrs)
				official := officialLeaf("custom_attribute", "v", match, cv, attrs)
				if ours != official {
					t.Errorf("%s: attribute %q, condition %q: ours %s, official %s", match, av, cv, ours, official)
				}
			}
		}
		// Non-string values on either side are null on both.
		for _, pair := range [][2]any{{1.0, "1.0"}, {"1.0", 1}, {"1.0", true}, {nil, "1"}} {
			attrs := map[string]any{"v": pair[1]}
			ours := newCondition("custom_attribute", "v", match, pair[0]).eval(attrs)
			official := officialLeaf("custom_attribute", "v", match, pair[0], attrs)
			if ours != official || ours != triNull {
				t.Errorf("%s %v: ours %s, official %s, want null", match, pair, ours, official)
			}
		}
	}
}

// TestLeafTable documents the matchers on their own, including the cases
// where we depart from the official SDK.
func TestLeafTable(t *testing.T) {
	var nilInt *int
	tests := []struct {
		match string
		value any
		attr  any // "missing" leaves the attribute out
		want  tri
	}{
		{"exact", "us", "us", triTrue},
		{"exact", "us", "uk", triFalse},
		{"exact", "us", 1, triNull},
		{"", "us", "us", triTrue}, // missing match is exact
		{"exact", true, true, triTrue},
		{"exact", true, 1, triNull},   // a number is not a bool
		{"exact", 1.0, true, triNull}, // a bool is not a number
		{"exact", 18.0, 18, triTrue},  // int vs float
		{"exact", 18.0, int64(18), triTrue},
		{"exact", 18.0, float32(18), triTrue},
		{"exact", 1.5, float32(1.5), triTrue},
		{"exact", 18.0, "18", triNull},
		{"exact", 18.0, json.Number("18"), triTrue}, // official: null
		{"exact", 18.0, json.Number("18.0"), triTrue},
		{"exact", 18.0, json.Number("x"), triNull},
		{"exact", 18.0, age(18), triTrue},
		{"exact", 18.0, nilInt, triNull}, // official: panics
		{"exact", 1e16, 1e16, triNull},   // beyond 2^53 (official: true)
		{"exact", 1.0, int64(1<<53 + 1), triNull},
		{"exact", 1.0, json.Number("9007199254740993"), triNull},
		{"gt", 1.0, math.Inf(1), triNull},
		{"gt", 1.0, float64(1 << 53), triTrue}, // 2^53 itself is fine
		{"exact", "us", "missing", triNull},
		{"exact", "us", nil, triNull},
		{"exact", nil, "us", triNull},
		{"exact", []any{"us"}, "us", triNull},
		{"exists", nil, "missing", triFalse},
		{"exists", nil, nil, triFalse},
		{"exists", nil, false, triTrue},
		{"exists", nil, "", triTrue},
		{"substring", "pro", "pro-trial", triTrue},
		{"substring", "pro", "free", triFalse},
		{"substring", "pro", 5, triNull},
		{"substring", 5.0, "5", triNull},
		{"gt", 18.0, 21, triTrue},
		{"gt", 18.0, 18, triFalse},
		{"ge", 18.0, 18, triTrue},
		{"lt", 18.0, 17.5, triTrue},
		{"le", 18.0, uint8(18), triTrue},
		{"le", 18.0, "17", triNull},
		{"gt", "18", 21, triNull},
		{"semver_ge", "1.2.0", "1.3.5", triTrue},
		{"semver_lt", "1.2.0", "1.3.5", triFalse},
		{"semver_eq", "1.2", "1.2.7", triTrue},
		{"semver_ge", "1.0", "1.0 ", triNull},
		{"semver_ge", "1.0", 1.0, triNull},
		{"qualified", "segment-1", "missing", triFalse}, // no segments: qualifies for none
		{"qualified", 1.0, "missing", triNull},
		{"regex", "^u", "us", triNull},
	}
	for _, tc := range tests {
		attrs := map[string]any{"a": tc.attr}
		if tc.attr == "missing" {
			attrs = map[string]any{}
		}
		got := newCondition("custom_attribute", "a", tc.match, tc.value).eval(attrs)
		if got != tc.want {
			t.Errorf("%s %#v against %T(%v): got %s, want %s", tc.match, tc.value, tc.attr, tc.attr, got, tc.want)
		}
	}
	if got := newCondition("custom_dimension", "a", "exists", nil).eval(map[string]any{"a": 1}); got != triNull {
		t.Errorf("unknown condition type: got %s, want null", got)
	}
	if got := newCondition("", "a", "exists", nil).eval(map[string]any{"a": 1}); got != triNull {
		t.Errorf("missing condition type: got %s, want null", got)
	}
}
