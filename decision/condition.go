package decision

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
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

// conditionWalker parses one condition tree. It keeps the indexes of the
// lists it is in as a stack below the tree's path, so that a problem deep in
// the tree renders as conditions[1][2] without a path value per level.
type conditionWalker struct {
	// base and field locate the tree: the tree is base's field. base is a
	// copy, so that the element's path never escapes to the heap through
	// the walker.
	base    path
	hasBase bool // false: the tree is a top-level field
	field   string
	// idx holds the indexes of the first len(idx) levels; depth counts
	// them all. A fixed array keeps the walker (and at) on the stack.
	idx   [32]int
	depth int
	p     *problems
	auds  map[string]*audience // audience references, for audienceConditions
}

func newConditionWalker(base *path, name string, auds map[string]*audience, p *problems) *conditionWalker {
	w := &conditionWalker{field: name, p: p, auds: auds}
	if base != nil {
		w.base, w.hasBase = *base, true
	}
	return w
}

// add reports a problem at the current position.
func (w *conditionWalker) add(format string, args ...any) {
	if w.p.full() {
		return
	}
	var b strings.Builder
	at := field(nil, w.field)
	if w.hasBase {
		at.up = &w.base
	}
	at.render(&b, w.p.lim.MaxQuoteBytes)
	for _, i := range w.idx[:min(w.depth, len(w.idx))] {
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(']')
	}
	if w.depth > len(w.idx) {
		b.WriteString("[…]")
	}
	w.p.add(nil, "%s: "+format, append([]any{b.String()}, args...)...)
}

func (w *conditionWalker) push(i int) {
	if w.depth < len(w.idx) {
		w.idx[w.depth] = i
	}
	w.depth++
}

func (w *conditionWalker) pop() { w.depth-- }

// parseConditionsJSON parses an audience's conditions from the datafile:
// a JSON string holding the tree (legacy audiences) or the tree itself,
// a list or a bare leaf (wrapped in "or"). The depth is checked on the raw
// bytes before anything is decoded.
func parseConditionsJSON(raw jsontext.Value, base *path, name string, maxDepth int, p *problems) *node {
	at := field(base, name)
	if raw.Kind() == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			p.add(&at, "not a valid JSON string: %v", err)
			return nil
		}
		raw = jsontext.Value(s)
	}
	if nestedDeeper(raw, maxDepth) {
		p.add(&at, "nested more than %d lists and objects deep", maxDepth)
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		p.add(&at, "not valid JSON: %v", err)
		return nil
	}
	w := newConditionWalker(base, name, nil, p)
	switch x := v.(type) {
	case map[string]any:
		leaf := w.leaf(x)
		if leaf == nil {
			return nil
		}
		return &node{kind: nodeOr, kids: []*node{leaf}}
	case []any:
		return w.conditionList(x)
	}
	p.add(&at, "want a list or a condition, got %s", jsonType(v))
	return nil
}

// conditionList parses ["and"|"or"|"not", operand...]; without a leading
// operator the list is an "or".
func (w *conditionWalker) conditionList(l []any) *node {
	n := &node{kind: nodeOr}
	start := 0
	if len(l) > 0 {
		if s, ok := l[0].(string); ok {
			n.kind = conditionOperator(s)
			start = 1
		}
	}
	for i := start; i < len(l); i++ {
		w.push(i)
		var kid *node
		switch x := l[i].(type) {
		case map[string]any:
			kid = w.leaf(x)
		case []any:
			kid = w.conditionList(x)
		default:
			w.add("want a condition or a list, got %s", jsonType(l[i]))
		}
		w.pop()
		if kid != nil {
			n.kids = append(n.kids, kid)
		}
	}
	return n
}

func (w *conditionWalker) leaf(m map[string]any) *node {
	field := func(key string) (string, bool) {
		switch v := m[key].(type) {
		case nil:
			return "", true
		case string:
			return v, true
		}
		w.add("%q must be a string, got %s", key, jsonType(m[key]))
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

// parseAudienceConditionsJSON parses an experiment's or rule's
// audienceConditions, checking its depth before decoding it. nil means
// "everyone"; the caller falls back to audienceIds only when the field is
// absent.
func parseAudienceConditionsJSON(raw jsontext.Value, base *path, name string, auds map[string]*audience, maxDepth int, p *problems) *node {
	at := field(base, name)
	if nestedDeeper(raw, maxDepth) {
		p.add(&at, "nested more than %d lists deep", maxDepth)
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		p.add(&at, "%v", err)
		return nil
	}
	w := newConditionWalker(base, name, auds, p)
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return w.audienceRef(x)
	case []any:
		if len(x) == 0 {
			return nil
		}
		return w.audienceList(x)
	}
	p.add(&at, "want a list of audience IDs, got %s", jsonType(v))
	return nil
}

// audienceList parses ["and"|"or"|"not", audienceID | list ...]. A
// leading string is an operator only if it is one; otherwise it is an
// audience ID and the list is an "or".
func (w *conditionWalker) audienceList(l []any) *node {
	n := &node{kind: nodeOr}
	start := 0
	if len(l) > 0 {
		if s, ok := l[0].(string); ok && (s == "and" || s == "or" || s == "not") {
			n.kind = conditionOperator(s)
			start = 1
		}
	}
	for i := start; i < len(l); i++ {
		w.push(i)
		var kid *node
		switch x := l[i].(type) {
		case string:
			kid = w.audienceRef(x)
		case []any:
			kid = w.audienceList(x)
		default:
			w.add("want an audience ID or a list, got %s", jsonType(l[i]))
		}
		w.pop()
		if kid != nil {
			n.kids = append(n.kids, kid)
		}
	}
	return n
}

func (w *conditionWalker) audienceRef(id string) *node {
	a := w.auds[id]
	if a == nil {
		w.add("unknown audience %s", quote(id, w.p.lim.MaxQuoteBytes))
		return nil
	}
	return &node{kind: nodeAudience, audience: a}
}

// audienceIDsTree is the tree for audienceIds: any of them (nil for none).
func audienceIDsTree(ids []string, base *path, name string, auds map[string]*audience, p *problems) *node {
	if len(ids) == 0 {
		return nil
	}
	w := newConditionWalker(base, name, auds, p)
	n := &node{kind: nodeOr, kids: make([]*node, 0, len(ids))}
	for i, id := range ids {
		w.push(i)
		if kid := w.audienceRef(id); kid != nil {
			n.kids = append(n.kids, kid)
		}
		w.pop()
	}
	return n
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
