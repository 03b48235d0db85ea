package decision

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync/atomic"

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
	// ref is the node that refers to this audience, shared by every
	// reference.
	ref *node
	// index numbers the audience within its datafile: where a call keeps
	// its result (audienceMemo).
	index int32
}

func newAudience(id, name string, tree *node, index int32) *audience {
	a := &audience{id: id, name: name, tree: tree, index: index}
	a.ref = &node{kind: nodeAudience, audience: a}
	return a
}

// inlineAudiences is how many audiences a call remembers the results of
// without allocating: every datafile but the largest projects'.
const inlineAudiences = 64

// audienceMemo remembers, within one decision call, the result of each
// audience evaluated: the user's attributes do not change during a call,
// and an audience shared by many experiments and rollout rules would
// otherwise be evaluated again for each of them, so a DecideAll would cost
// experiments × audience size. A result is kept at the audience's index
// as the tri plus one, zero meaning not yet evaluated: in inline for a
// datafile of up to inlineAudiences audiences, else in a slice of the
// datafile's pool, taken at the call's first evaluation and given back by
// release.
type audienceMemo struct {
	inline [inlineAudiences]uint8
	df     *Datafile // set when the datafile has more audiences
	pooled *[]uint8
}

// result returns a's result for attrs, evaluating it only the first time
// the call asks.
func (m *audienceMemo) result(a *audience, attrs map[string]any) tri {
	slot := m.slot(a.index)
	if *slot == 0 {
		*slot = uint8(a.evalTree(attrs)) + 1
	}
	return tri(*slot - 1)
}

func (m *audienceMemo) slot(i int32) *uint8 {
	if m.df == nil {
		return &m.inline[i]
	}
	if m.pooled == nil {
		m.pooled = m.df.memos.Get().(*[]uint8)
	}
	return &(*m.pooled)[i]
}

// release gives a pooled slice back, cleared. The inline results stay:
// they hold for the whole call.
func (m *audienceMemo) release() {
	if m.pooled != nil {
		clear(*m.pooled)
		m.df.memos.Put(m.pooled)
		m.pooled = nil
	}
}

// eval evaluates the tree with three-valued logic:
//
//   - or: true if any operand is true, else null if any is null, else false;
//   - and: false if any operand is false, else null if any is null, else
//     true (the rule of the Python and JavaScript SDKs; the official Go SDK
//     v2 stops at the first null, which differs under "not");
//   - not: negates its first operand; null stays null, no operand is null.
func (n *node) eval(attrs map[string]any) tri { return n.evalIn(attrs, nil) }

// evalIn is eval remembering the results of the audiences it refers to in
// m (nil: none), so a decision call evaluates each audience once.
func (n *node) evalIn(attrs map[string]any, m *audienceMemo) tri {
	switch n.kind {
	case nodeLeaf:
		return n.leaf.eval(attrs)
	case nodeAudience:
		if m != nil {
			return m.result(n.audience, attrs)
		}
		return n.audience.evalTree(attrs)
	case nodeNot:
		if len(n.kids) == 0 {
			return triNull
		}
		switch n.kids[0].evalIn(attrs, m) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triNull
	case nodeAnd:
		sawNull := false
		for _, k := range n.kids {
			switch k.evalIn(attrs, m) {
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
		switch k.evalIn(attrs, m) {
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

// evalTree evaluates the audience's conditions.
func (a *audience) evalTree(attrs map[string]any) tri {
	if hook := audienceEvalHook.Load(); hook != nil {
		(*hook)(a)
	}
	return a.tree.eval(attrs)
}

// audienceEvalHook, when set (by tests), is called on every evaluation of
// an audience's conditions, so a test can count them.
var audienceEvalHook atomic.Pointer[func(*audience)]

// explain gives, in rs, the reasons the official Go SDK's audience
// evaluator gives for this tree, in its order: it walks the tree as the
// SDK does ("and" stops at its first false or null operand, "or" at its
// first true one), and says so for every condition of an unknown type or
// match it reaches and every audience whose conditions are null. Only
// reasons call it: it follows the SDK's "and" rather than the call's
// remembered results, which follow the Python SDK's. Each audience is
// walked once per call (m); the SDK repeats its messages wherever the
// audience is referred to, and so does explain.
func (n *node) explain(attrs map[string]any, rs *reasons, m *explainMemo) (result, valid bool) {
	switch n.kind {
	case nodeLeaf:
		c := n.leaf
		if c.match == matchNull && c.unknown != "" {
			rs.add(c.unknown)
			return false, false
		}
		switch c.eval(attrs) {
		case triTrue:
			return true, true
		case triFalse:
			return false, true
		}
		return false, false
	case nodeAudience:
		e := m.explanation(n.audience, attrs)
		for _, r := range e.reasons {
			rs.add(r)
		}
		return e.result, e.valid
	case nodeNot:
		if len(n.kids) == 0 {
			return false, false
		}
		r, ok := n.kids[0].explain(attrs, rs, m)
		if !ok {
			return false, false
		}
		return !r, true
	case nodeAnd:
		for _, k := range n.kids {
			r, ok := k.explain(attrs, rs, m)
			if !ok || !r {
				return false, ok
			}
		}
		return true, true
	}
	sawInvalid := false
	for _, k := range n.kids {
		r, ok := k.explain(attrs, rs, m)
		if !ok {
			sawInvalid = true
		} else if r {
			return true, true
		}
	}
	return false, !sawInvalid
}

// explainMemo remembers, within one call with reasons, what the SDK's
// evaluator makes of each audience, so an audience shared by many
// experiments and rules is walked once.
type explainMemo struct {
	m map[*audience]*explanation
}

// explanation is an audience as the SDK's evaluator sees it: its result,
// whether it is valid (not null), and the reasons its walk gives.
type explanation struct {
	result, valid bool
	reasons       []string
}

func (m *explainMemo) explanation(a *audience, attrs map[string]any) *explanation {
	if e, ok := m.m[a]; ok {
		return e
	}
	sub := reasons{on: true}
	e := &explanation{}
	// An audience's tree holds conditions only: the walk does not come
	// back here.
	e.result, e.valid = a.tree.explain(attrs, &sub, m)
	if !e.valid {
		e.result = false
		sub.add(`an error occurred while evaluating nested tree for audience ID "` + a.id + `"`)
	}
	e.reasons = sub.list
	if m.m == nil {
		m.m = map[*audience]*explanation{}
	}
	m.m[a] = e
	return e
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

// Shared nodes: nodes are immutable once built, so the empty lists and
// the references to one audience (and, per datafile, the leaves of one
// unknown type or match: unknownLeaf) need not each be allocated; a
// datafile made of them costs a pointer each.
var (
	emptyOr  = &node{kind: nodeOr}
	emptyAnd = &node{kind: nodeAnd}
	emptyNot = &node{kind: nodeNot}
)

// unknownLeaf is a condition of an unknown type or match: null whatever
// its value, carrying the official Go SDK's reason for it. Conditions
// with the same reason share one.
func (w *conditionWalker) unknownLeaf(typ, match string) *node {
	why := `invalid Condition matcher "` + match + `"`
	if typ != "custom_attribute" && typ != "third_party_dimension" {
		why = `unable to evaluate condition of type "` + typ + `"`
	}
	if n, ok := w.unknown[why]; ok {
		return n
	}
	n := &node{kind: nodeLeaf, leaf: &condition{match: matchNull, unknown: why}}
	if w.unknown == nil {
		w.unknown = map[string]*node{}
	}
	w.unknown[why] = n
	return n
}

// listNode returns a node of kind over kids, shared when there are none.
func listNode(kind nodeKind, kids []*node) *node {
	if len(kids) == 0 {
		switch kind {
		case nodeAnd:
			return emptyAnd
		case nodeNot:
			return emptyNot
		}
		return emptyOr
	}
	return &node{kind: kind, kids: kids}
}

// conditionWalker parses one condition tree from its JSON tokens, without
// decoding it into maps and lists first. It keeps the indexes of the lists
// it is in as a stack below the tree's path, so that a problem deep in the
// tree renders as conditions[1][2] without a path value per level.
type conditionWalker struct {
	dec *jsontext.Decoder
	buf bytes.Buffer
	// bad is set once the JSON does not parse (a legacy audience's string):
	// the tree is then dropped.
	bad bool
	// base and field locate the tree: the tree is base's field. base is a
	// copy, so that the element's path never escapes to the heap through
	// the walker.
	base    path
	hasBase bool // false: the tree is a top-level field
	field   string
	// idx holds the indexes of the first len(idx) levels; depth counts
	// them all.
	idx   [16]int
	depth int
	p     *problems
	auds  map[string]*audience // audience references, for audienceConditions
	// unknown holds the datafile's leaves of an unknown type or match, one
	// per reason, shared by the conditions that give it.
	unknown map[string]*node
}

// conditionOptions read conditions as encoding/json did: the last of
// duplicate names wins.
var conditionOptions = jsontext.AllowDuplicateNames(true)

// start readies w, which may have parsed another tree, to parse raw, the
// field name of the element at base. The decoder is kept.
func (w *conditionWalker) start(raw []byte, base *path, name string, auds map[string]*audience, p *problems) {
	dec, unknown := w.dec, w.unknown
	*w = conditionWalker{field: name, p: p, auds: auds, unknown: unknown}
	w.buf = *bytes.NewBuffer(raw)
	if dec == nil {
		dec = jsontext.NewDecoder(&w.buf, conditionOptions)
	} else {
		dec.Reset(&w.buf, conditionOptions)
	}
	w.dec = dec
	if base != nil {
		w.base, w.hasBase = *base, true
	}
}

// at renders the current position.
func (w *conditionWalker) at(b *strings.Builder) {
	at := field(nil, w.field)
	if w.hasBase {
		at.up = &w.base
	}
	at.render(b, w.p.lim.MaxQuoteBytes)
	for _, i := range w.idx[:min(w.depth, len(w.idx))] {
		b.WriteByte('[')
		b.WriteString(strconv.Itoa(i))
		b.WriteByte(']')
	}
	if w.depth > len(w.idx) {
		b.WriteString("[…]")
	}
}

// add reports a problem at the current position.
func (w *conditionWalker) add(format string, args ...any) {
	if w.p.full() {
		return
	}
	var b strings.Builder
	w.at(&b)
	w.p.add(nil, "%s: "+format, append([]any{b.String()}, args...)...)
}

// fail records JSON that does not parse; the tree is dropped.
func (w *conditionWalker) fail(err error) {
	if w.bad {
		return
	}
	w.bad = true
	if w.p.full() {
		return
	}
	at := field(nil, w.field)
	if w.hasBase {
		at.up = &w.base
	}
	w.p.add(&at, "not valid JSON: %v", syntaxDetail(err))
}

func (w *conditionWalker) push(i int) {
	if w.depth < len(w.idx) {
		w.idx[w.depth] = i
	}
	w.depth++
}

func (w *conditionWalker) pop() { w.depth-- }

func (w *conditionWalker) read() (jsontext.Token, bool) {
	tok, err := w.dec.ReadToken()
	if err != nil {
		w.fail(err)
		return jsontext.Token{}, false
	}
	return tok, true
}

func (w *conditionWalker) skip() bool {
	if err := w.dec.SkipValue(); err != nil {
		w.fail(err)
		return false
	}
	return true
}

// end checks that nothing follows the tree.
func (w *conditionWalker) end() {
	if w.bad {
		return
	}
	if _, err := w.dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the conditions")
		}
		w.fail(err)
	}
}

// kindType names a JSON kind for problems.
func kindType(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case '0':
		return "a number"
	case '[':
		return "a list"
	case '{':
		return "an object"
	}
	return "not JSON"
}

// conditions parses an audience's conditions from the datafile: a JSON
// string holding the tree (legacy audiences) or the tree itself, a list or
// a bare leaf (wrapped in "or"). The depth is checked on the raw bytes
// before anything is parsed.
func (w *conditionWalker) conditions(raw jsontext.Value, base *path, name string, maxDepth int, p *problems) *node {
	at := field(base, name)
	if len(raw) == 0 {
		p.add(&at, "want a list or a condition, got null")
		return nil
	}
	if raw.Kind() == '"' {
		s, err := jsontext.AppendUnquote(nil, raw)
		if err != nil {
			p.add(&at, "not a valid JSON string: %v", syntaxDetail(err))
			return nil
		}
		raw = s
	}
	if nestedDeeper(raw, maxDepth) {
		p.add(&at, "nested more than %d lists and objects deep", maxDepth)
		return nil
	}
	w.start(raw, base, name, nil, p)
	var n *node
	switch k := w.dec.PeekKind(); k {
	case '{':
		if leaf := w.leaf(); leaf != nil {
			n = &node{kind: nodeOr, kids: []*node{leaf}}
		}
	case '[':
		n = w.conditionList()
	case 0:
		w.read() // reports the syntax error
	default:
		if w.skip() {
			w.add("want a list or a condition, got %s", kindType(k))
		}
	}
	w.end()
	if w.bad {
		return nil
	}
	return n
}

// conditionList parses ["and"|"or"|"not", operand...]; without a leading
// operator the list is an "or".
func (w *conditionWalker) conditionList() *node {
	if _, ok := w.read(); !ok { // [
		return nil
	}
	kind := nodeOr
	var kids []*node
	for i := 0; !w.bad; i++ {
		k := w.dec.PeekKind()
		if k == ']' {
			w.read()
			break
		}
		w.push(i)
		switch k {
		case '"':
			tok, _ := w.read()
			if i == 0 {
				kind = conditionOperator(tok.String())
			} else {
				w.add("want a condition or a list, got a string")
			}
		case '{':
			if kid := w.leaf(); kid != nil {
				kids = append(kids, kid)
			}
		case '[':
			if kid := w.conditionList(); kid != nil {
				kids = append(kids, kid)
			}
		case 0:
			w.read()
		default:
			if w.skip() {
				w.add("want a condition or a list, got %s", kindType(k))
			}
		}
		w.pop()
	}
	return listNode(kind, kids)
}

// leafField is a string field of a leaf as last given.
type leafField struct {
	kind jsontext.Kind // 0: absent
	s    string
}

// leaf parses {"type": …, "name": …, "match": …, "value": …}. type, name
// and match must be strings (or null); value may be anything, but only a
// string, boolean or number can match. The last of duplicate names wins.
func (w *conditionWalker) leaf() *node {
	if _, ok := w.read(); !ok { // {
		return nil
	}
	var typ, name, match leafField
	var value any
	for !w.bad && w.dec.PeekKind() != '}' {
		key, ok := w.read()
		if !ok {
			return nil
		}
		var f *leafField
		switch key.String() {
		case "type":
			f = &typ
		case "name":
			f = &name
		case "match":
			f = &match
		case "value":
			value = w.leafValue()
			continue
		}
		if f == nil {
			w.skip()
			continue
		}
		switch k := w.dec.PeekKind(); k {
		case '"', 'n', 't', 'f', '0':
			tok, _ := w.read()
			*f = leafField{kind: k}
			if k == '"' {
				f.s = tok.String()
			}
		default:
			*f = leafField{kind: k}
			w.skip()
		}
	}
	if _, ok := w.read(); !ok { // }
		return nil
	}
	ok := true
	for _, f := range []struct {
		key string
		f   leafField
	}{{"type", typ}, {"name", name}, {"match", match}} {
		if f.f.kind != 0 && f.f.kind != '"' && f.f.kind != 'n' {
			w.add("%q must be a string, got %s", f.key, kindType(f.f.kind))
			ok = false
		}
	}
	if !ok {
		return nil
	}
	if conditionMatch(typ.s, match.s) == matchNull {
		return w.unknownLeaf(typ.s, match.s)
	}
	return &node{kind: nodeLeaf, leaf: newCondition(typ.s, name.s, match.s, value)}
}

// otherValue stands for a condition value no matcher accepts (a list or
// an object), which is not decoded.
type otherValue struct{}

// leafValue reads a leaf's value: a string, bool, float64 (as
// encoding/json decodes numbers), nil, or otherValue.
func (w *conditionWalker) leafValue() any {
	switch w.dec.PeekKind() {
	case '"':
		tok, _ := w.read()
		return tok.String()
	case 't', 'f':
		tok, _ := w.read()
		return tok.Bool()
	case '0':
		tok, _ := w.read()
		f, err := strconv.ParseFloat(tok.String(), 64)
		if err != nil {
			w.add("value: number %s does not fit a float64", cut(tok.String(), w.p.lim.MaxQuoteBytes))
			w.bad = true
		}
		return f
	case 'n':
		w.read()
		return nil
	}
	w.skip()
	return otherValue{}
}

// audienceConditions parses an experiment's or rule's
// audienceConditions, checking its depth before parsing it. nil means
// "everyone"; the caller falls back to audienceIds only when the field is
// absent.
func (w *conditionWalker) audienceConditions(raw jsontext.Value, base *path, name string, auds map[string]*audience, maxDepth int, p *problems) *node {
	at := field(base, name)
	if nestedDeeper(raw, maxDepth) {
		p.add(&at, "nested more than %d lists deep", maxDepth)
		return nil
	}
	w.start(raw, base, name, auds, p)
	var n *node
	switch k := w.dec.PeekKind(); k {
	case '"':
		tok, _ := w.read()
		if id := tok.String(); id != "" {
			n = w.audienceRef(id)
		}
	case '[':
		n = w.audienceList(true)
	case 0:
		w.read()
	default:
		if w.skip() {
			w.add("want a list of audience IDs, got %s", kindType(k))
		}
	}
	w.end()
	if w.bad {
		return nil
	}
	return n
}

// audienceList parses ["and"|"or"|"not", audienceID | list ...]. A
// leading string is an operator only if it is one; otherwise it is an
// audience ID and the list is an "or". At the top, an empty list is nil:
// everyone.
func (w *conditionWalker) audienceList(top bool) *node {
	if _, ok := w.read(); !ok { // [
		return nil
	}
	kind := nodeOr
	var kids []*node
	empty := true
	for i := 0; !w.bad; i++ {
		k := w.dec.PeekKind()
		if k == ']' {
			w.read()
			break
		}
		empty = false
		w.push(i)
		switch k {
		case '"':
			tok, _ := w.read()
			s := tok.String()
			if i == 0 && (s == "and" || s == "or" || s == "not") {
				kind = conditionOperator(s)
			} else if kid := w.audienceRef(s); kid != nil {
				kids = append(kids, kid)
			}
		case '[':
			if kid := w.audienceList(false); kid != nil {
				kids = append(kids, kid)
			}
		case 0:
			w.read()
		default:
			if w.skip() {
				w.add("want an audience ID or a list, got %s", kindType(k))
			}
		}
		w.pop()
	}
	if top && empty {
		return nil
	}
	return listNode(kind, kids)
}

func (w *conditionWalker) audienceRef(id string) *node {
	a := w.auds[id]
	if a == nil {
		w.add("unknown audience %s", quote(id, w.p.lim.MaxQuoteBytes))
		return nil
	}
	return a.ref
}

// audienceIDsTree is the tree for audienceIds, the field name of the
// element at base: any of them (nil for none).
func (b *builder) audienceIDsTree(ids jsontext.Value, base *path, name string) *node {
	w := &b.walker
	w.start(nil, base, name, b.auds, b.p)
	kids := make([]*node, 0, countElements(ids))
	n := 0
	eachString(b, ids, base, name, func(i int, id string) {
		n++
		w.push(i)
		if kid := w.audienceRef(id); kid != nil {
			kids = append(kids, kid)
		}
		w.pop()
	})
	if n == 0 {
		return nil
	}
	return listNode(nodeOr, kids)
}

// syntaxDetail is a JSON syntax error without its location, which the
// problem gives.
func syntaxDetail(err error) error {
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) && syn.Err != nil {
		return syn.Err
	}
	return err
}
