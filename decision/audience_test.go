package decision

import (
	"strings"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
)

// Leaves with fixed outcomes for the attribute map {"present": 1}.
var (
	leafT = &node{kind: nodeLeaf, leaf: newCondition("custom_attribute", "present", "exists", nil)}
	leafF = &node{kind: nodeLeaf, leaf: newCondition("custom_attribute", "absent", "exists", nil)}
	leafN = &node{kind: nodeLeaf, leaf: newCondition("custom_attribute", "present", "regex", "x")}
)

// parseConditionsJSON parses an audience's conditions on a walker of its
// own.
func parseConditionsJSON(raw jsontext.Value, base *path, name string, maxDepth int, p *problems) *node {
	var w conditionWalker
	return w.conditions(raw, base, name, maxDepth, p)
}

// parseAudienceConditionsJSON parses audienceConditions on a walker of its
// own.
func parseAudienceConditionsJSON(raw jsontext.Value, base *path, name string, auds map[string]*audience, maxDepth int, p *problems) *node {
	var w conditionWalker
	return w.audienceConditions(raw, base, name, auds, maxDepth, p)
}

func op(kind nodeKind, kids ...*node) *node { return &node{kind: kind, kids: kids} }

func TestTreeLogic(t *testing.T) {
	T, F, N := leafT, leafF, leafN
	tests := []struct {
		name string
		tree *node
		want tri
	}{
		{"and(T,T)", op(nodeAnd, T, T), triTrue},
		{"and(T,F)", op(nodeAnd, T, F), triFalse},
		{"and(N,F)", op(nodeAnd, N, F), triFalse}, // cross-SDK rule: a false anywhere wins
		{"and(F,N)", op(nodeAnd, F, N), triFalse},
		{"and(N,T)", op(nodeAnd, N, T), triNull},
		{"and()", op(nodeAnd), triTrue},
		{"or(F,F)", op(nodeOr, F, F), triFalse},
		{"or(F,N)", op(nodeOr, F, N), triNull},
		{"or(N,T)", op(nodeOr, N, T), triTrue},
		{"or()", op(nodeOr), triFalse},
		{"not(T)", op(nodeNot, T), triFalse},
		{"not(F)", op(nodeNot, F), triTrue},
		{"not(N)", op(nodeNot, N), triNull},
		{"not()", op(nodeNot), triNull},
		{"not(F,T) uses the first operand", op(nodeNot, F, T), triTrue},
		// The documented difference: the official Go SDK v2 stops at the
		// first null inside "and" and answers false here.
		{"not(and(null,false))", op(nodeNot, op(nodeAnd, N, F)), triTrue},
		{"not(and(false,null))", op(nodeNot, op(nodeAnd, F, N)), triTrue},
		{"not(or(null,false))", op(nodeNot, op(nodeOr, N, F)), triNull},
		{"audience", &node{kind: nodeAudience, audience: &audience{tree: op(nodeOr, T)}}, triTrue},
	}
	attrs := map[string]any{"present": 1}
	for _, tc := range tests {
		if got := tc.tree.eval(attrs); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestParseConditions evaluates parsed audience conditions for a user with
// country "us" and no other attributes.
func TestParseConditions(t *testing.T) {
	us := `{"type": "custom_attribute", "name": "country", "value": "us"}`
	fr := `{"type": "custom_attribute", "name": "country", "value": "fr"}`
	ghost := `{"type": "custom_attribute", "name": "ghost", "value": "x"}`
	tests := []struct {
		name       string
		conditions string // JSON of the conditions field
		want       tri
	}{
		{"legacy string", `"[\"and\", [\"or\", [\"or\", ` + strings.ReplaceAll(us, `"`, `\"`) + `]]]"`, triTrue},
		{"bare leaf", us, triTrue},
		{"typed list", `["and", ["or", ` + us + `]]`, triTrue},
		{"no operator means or", `[` + fr + `, ` + us + `]`, triTrue},
		{"nested list without operator is or", `["and", [` + fr + `, ` + us + `]]`, triTrue},
		{"unknown operator means or", `["xor", ` + fr + `, ` + us + `]`, triTrue},
		{"not", `["not", ` + fr + `]`, triTrue},
		{"not(and(null, false))", `["not", ["and", ` + ghost + `, ` + fr + `]]`, triTrue},
		{"empty list", `[]`, triFalse},
		{"missing match is exact", `["or", {"type": "custom_attribute", "name": "country", "match": null, "value": "us"}]`, triTrue},
	}
	attrs := map[string]any{"country": "us"}
	for _, tc := range tests {
		p := newProblems(DefaultLimits())
		n := parseConditionsJSON(jsontext.Value(tc.conditions), nil, "c", 32, p)
		if len(p.list) > 0 {
			t.Errorf("%s: %v", tc.name, p.list)
			continue
		}
		if got := n.eval(attrs); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestParseConditionsErrors(t *testing.T) {
	tests := []struct {
		conditions string
		want       string
	}{
		{`"[\"or\", "`, `c: not valid JSON`},
		{`42`, `c: want a list or a condition, got a number`},
		{`"\"or\""`, `c: want a list or a condition, got a string`},
		{`["or", 42]`, `c[1]: want a condition or a list, got a number`},
		{`["or", {"type": "custom_attribute"}, "and"]`, `c[2]: want a condition or a list, got a string`},
		{`["or", ["and", {"name": 5}]]`, `c[1][1]: "name" must be a string, got a number`},
		{`{"type": "custom_attribute", "match": ["exact"]}`, `c: "match" must be a string, got a list`},
	}
	for _, tc := range tests {
		p := newProblems(DefaultLimits())
		parseConditionsJSON(jsontext.Value(tc.conditions), nil, "c", 32, p)
		if len(p.list) == 0 || !strings.Contains(strings.Join(p.list, "\n"), tc.want) {
			t.Errorf("%s: problems %q, want one containing %q", tc.conditions, p.list, tc.want)
		}
	}
}

func TestParseAudienceConditions(t *testing.T) {
	yes := newAudience("1", "", op(nodeOr, leafT), 0)
	no := newAudience("2", "", op(nodeOr, leafF), 1)
	unknown := newAudience("3", "", op(nodeOr, leafN), 2)
	auds := map[string]*audience{"1": yes, "2": no, "3": unknown}
	tests := []struct {
		conditions string
		want       tri
		everyone   bool
	}{
		{`[]`, triTrue, true},
		{`""`, triTrue, true},
		{`"1"`, triTrue, false},
		{`["1", "2"]`, triTrue, false}, // a leading audience ID is not an operator
		{`["and", "1", "2"]`, triFalse, false},
		{`["and", "1", ["not", "2"]]`, triTrue, false},
		{`["or", "2", "3"]`, triNull, false},
		{`["not", ["and", "3", "2"]]`, triTrue, false},
		{`["and"]`, triTrue, false},
		{`["or"]`, triFalse, false},
	}
	attrs := map[string]any{"present": 1}
	for _, tc := range tests {
		p := newProblems(DefaultLimits())
		n := parseAudienceConditionsJSON(jsontext.Value(tc.conditions), nil, "e", auds, 32, p)
		if len(p.list) > 0 {
			t.Errorf("%s: %v", tc.conditions, p.list)
			continue
		}
		if (n == nil) != tc.everyone {
			t.Errorf("%s: everyone = %v, want %v", tc.conditions, n == nil, tc.everyone)
			continue
		}
		if n != nil {
			if got := n.eval(attrs); got != tc.want {
				t.Errorf("%s = %s, want %s", tc.conditions, got, tc.want)
			}
		}
	}

	for _, tc := range []struct{ conditions, want string }{
		{`["or", "1", "999"]`, `e[2]: unknown audience "999"`},
		{`["or", "1", {"id": "2"}]`, `e[2]: want an audience ID or a list, got an object`},
		{`{"and": ["1"]}`, `e: want a list of audience IDs, got an object`},
		{`42`, `e: want a list of audience IDs, got a number`},
	} {
		p := newProblems(DefaultLimits())
		parseAudienceConditionsJSON(jsontext.Value(tc.conditions), nil, "e", auds, 32, p)
		if len(p.list) == 0 || !strings.Contains(strings.Join(p.list, "\n"), tc.want) {
			t.Errorf("%s: problems %q, want one containing %q", tc.conditions, p.list, tc.want)
		}
	}
}
