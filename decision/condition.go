package decision

import (
	"encoding/json"
	"fmt"
)

// nodeKind is the kind of a condition tree node.
type nodeKind uint8

const (
	nodeOr nodeKind = iota
	nodeAnd
	nodeNot
	nodeLeaf
	nodeAudience
)

// node is a parsed condition tree. Audience trees hold leaves; experiment
// and rule trees (audienceConditions, audienceIds) hold references to
// audiences, resolved to pointers at load time so evaluation does no map
// lookups and no allocation.
type node struct {
	kind     nodeKind
	kids     []*node
	leaf     *condition
	audience *audience
}

// audience is one entry of typedAudiences or audiences.
type audience struct {
	id, name string
	tree     *node
}

// eval evaluates the tree with three-valued logic:
//
//   - or: true if any operand is true, else null if any is null, else false;
//   - and: false if any operand is false, else null if any is null, else
//     true (the rule of the Python and JavaScript SDKs; the official Go SDK
//     v2 stops at the first null, which differs under "not");
//   - not: negates its first operand; null stays null, no operand is null.
func (n *node) eval(attrs map[string]any) tri {
	switch n.kind {
	case nodeLeaf:
		return n.leaf.eval(attrs)
	case nodeAudience:
		return n.audience.tree.eval(attrs)
	case nodeNot:
		if len(n.kids) == 0 {
			return triNull
		}
		switch n.kids[0].eval(attrs) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triNull
	case nodeAnd:
		sawNull := false
		for _, k := range n.kids {
			switch k.eval(attrs) {
			case triFalse:
				return triFalse
			case triNull:
				sawNull = true
			}
		}
		if sawNull {
			return triNull
		}
		return triTrue
	}
	sawNull := false
	for _, k := range n.kids {
		switch k.eval(attrs) {
		case triTrue:
			return triTrue
		case triNull:
			sawNull = true
		}
	}
	if sawNull {
		return triNull
	}
	return triFalse
}

// eachAudience calls fn for every audience the tree refers to, for reasons.
func (n *node) eachAudience(fn func(*audience)) {
	if n.kind == nodeAudience {
		fn(n.audience)
		return
	}
	for _, k := range n.kids {
		k.eachAudience(fn)
	}
}

// conditionOperator maps a list's leading string to its operator. Unknown
// operators are treated as "or", as the SDKs do.
func conditionOperator(s string) nodeKind {
	switch s {
	case "and":
		return nodeAnd
	case "not":
		return nodeNot
	}
	return nodeOr
}

// parseConditions parses an audience's conditions: a JSON string (legacy
// audiences), a decoded list, or a bare leaf, which is wrapped in "or".
func parseConditions(v any, path string, p *problems) *node {
	if s, ok := v.(string); ok {
		var decoded any
		if err := json.Unmarshal([]byte(s), &decoded); err != nil {
			p.addf("%s: not valid JSON: %v", path, err)
			return nil
		}
		v = decoded
	}
	switch x := v.(type) {
	case map[string]any:
		leaf := parseLeaf(x, path, p)
		if leaf == nil {
			return nil
		}
		return &node{kind: nodeOr, kids: []*node{leaf}}
	case []any:
		return parseConditionList(x, path, p)
	}
	p.addf("%s: want a list or a condition, got %s", path, jsonType(v))
	return nil
}

// parseConditionList parses ["and"|"or"|"not", operand...]; without a
// leading operator the list is an "or".
func parseConditionList(l []any, path string, p *problems) *node {
	n := &node{kind: nodeOr}
	start := 0
	if len(l) > 0 {
		if s, ok := l[0].(string); ok {
			n.kind = conditionOperator(s)
			start = 1
		}
	}
	for i := start; i < len(l); i++ {
		at := fmt.Sprintf("%s[%d]", path, i)
		var kid *node
		switch x := l[i].(type) {
		case map[string]any:
			kid = parseLeaf(x, at, p)
		case []any:
			kid = parseConditionList(x, at, p)
		default:
			p.addf("%s: want a condition or a list, got %s", at, jsonType(l[i]))
		}
		if kid != nil {
			n.kids = append(n.kids, kid)
		}
	}
	return n
}

func parseLeaf(m map[string]any, path string, p *problems) *node {
	field := func(key string) (string, bool) {
		switch v := m[key].(type) {
		case nil:
			return "", true
		case string:
			return v, true
		}
		p.addf("%s: %q must be a string, got %s", path, key, jsonType(m[key]))
		return "", false
	}
	typ, ok1 := field("type")
	name, ok2 := field("name")
	match, ok3 := field("match")
	if !ok1 || !ok2 || !ok3 {
		return nil
	}
	return &node{kind: nodeLeaf, leaf: newCondition(typ, name, match, m["value"])}
}

// parseAudienceConditions parses an experiment's or rule's
// audienceConditions. nil means "everyone"; use falls back to audienceIds
// only when the field is absent, which the caller decides.
func parseAudienceConditions(v any, path string, auds map[string]*audience, p *problems) *node {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return audienceRef(x, path, auds, p)
	case []any:
		if len(x) == 0 {
			return nil
		}
		return parseAudienceList(x, path, auds, p)
	}
	p.addf("%s: want a list of audience IDs, got %s", path, jsonType(v))
	return nil
}

// parseAudienceList parses ["and"|"or"|"not", audienceID | list ...]. A
// leading string is an operator only if it is one; otherwise it is an
// audience ID and the list is an "or".
func parseAudienceList(l []any, path string, auds map[string]*audience, p *problems) *node {
	n := &node{kind: nodeOr}
	start := 0
	if len(l) > 0 {
		if s, ok := l[0].(string); ok && (s == "and" || s == "or" || s == "not") {
			n.kind = conditionOperator(s)
			start = 1
		}
	}
	for i := start; i < len(l); i++ {
		at := fmt.Sprintf("%s[%d]", path, i)
		var kid *node
		switch x := l[i].(type) {
		case string:
			kid = audienceRef(x, at, auds, p)
		case []any:
			kid = parseAudienceList(x, at, auds, p)
		default:
			p.addf("%s: want an audience ID or a list, got %s", at, jsonType(l[i]))
		}
		if kid != nil {
			n.kids = append(n.kids, kid)
		}
	}
	return n
}

// audienceIDsTree is the tree for audienceIds: any of them (nil for none).
func audienceIDsTree(ids []string, path string, auds map[string]*audience, p *problems) *node {
	if len(ids) == 0 {
		return nil
	}
	n := &node{kind: nodeOr}
	for i, id := range ids {
		if kid := audienceRef(id, fmt.Sprintf("%s[%d]", path, i), auds, p); kid != nil {
			n.kids = append(n.kids, kid)
		}
	}
	return n
}

func audienceRef(id, path string, auds map[string]*audience, p *problems) *node {
	a := auds[id]
	if a == nil {
		p.addf("%s: unknown audience %q", path, id)
		return nil
	}
	return &node{kind: nodeAudience, audience: a}
}

// jsonType names the JSON type of a decoded value for error messages.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64, json.Number:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}
