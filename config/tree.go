package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxExpandedNodes bounds the YAML nodes a configuration may expand to
// through aliases (a small file of nested aliases, "billion laughs", would
// otherwise expand to an unbounded number). Real configurations are a few
// hundred nodes.
const maxExpandedNodes = 100_000

// tree checks a parsed YAML document against the Go type it will be
// decoded into, before decoding: every key must be one the type has and
// written once, every value must be of the kind the key takes (a list, a
// mapping, a whole number, a duration…), no value and no map key may be
// null (a null would silently become the zero value, so `retention: ~`
// would mean forever), and aliases may not expand beyond maxExpandedNodes.
// Each problem names the exact key and its line, in the words of YAML,
// never a Go type. A node with a problem is removed from the document, so
// decoding cannot stop at it, the key keeps its default, and everything
// else is decoded and validated in the same run.
//
// It also records which key path each line holds, so the errors decoding
// may still report (through an alias), which carry only a line, can name
// the key.
type tree struct {
	errs   []error
	tooBig bool             // beyond maxExpandedNodes: not walked, not to be decoded
	lines  map[int][]string // line → paths of the keys and scalars on it
	keys   map[string]bool  // paths of the struct keys the document writes
	failed []string         // paths of the values removed for their problems
	ok     bool             // the document as a whole may be decoded
}

func checkTree(doc *yaml.Node, t reflect.Type) *tree {
	tr := &tree{lines: map[int][]string{}, keys: map[string]bool{}}
	if n := expandedSize(doc, map[*yaml.Node]int{}); n > maxExpandedNodes {
		tr.errs = append(tr.errs, fmt.Errorf("the document expands to more than %d nodes through aliases", maxExpandedNodes))
		tr.tooBig = true
		return tr
	}
	tr.ok = tr.walk(doc, t, "")
	return tr
}

// expandedSize counts n's nodes with every alias replaced by what it
// refers to, stopping once past the bound.
func expandedSize(n *yaml.Node, memo map[*yaml.Node]int) int {
	if n == nil {
		return 0
	}
	if s, ok := memo[n]; ok {
		return s
	}
	memo[n] = maxExpandedNodes + 1 // an alias cycle counts as too many
	size := 1
	if n.Kind == yaml.AliasNode {
		size += expandedSize(n.Alias, memo)
	}
	for _, c := range n.Content {
		if size > maxExpandedNodes {
			break
		}
		size += expandedSize(c, memo)
	}
	memo[n] = size
	return size
}

// fail reports a problem of the value at path and says it is removed.
func (tr *tree) fail(path string, n *yaml.Node, format string, args ...any) bool {
	tr.report(path, n, format, args...)
	tr.failed = append(tr.failed, path)
	return false
}

// report reports a problem at path without refusing the value there.
func (tr *tree) report(path string, n *yaml.Node, format string, args ...any) {
	tr.errs = append(tr.errs, fmt.Errorf("%s (line %d): %s", keyName(path), n.Line, fmt.Sprintf(format, args...)))
}

func (tr *tree) record(n *yaml.Node, path string) {
	if path != "" {
		tr.lines[n.Line] = append(tr.lines[n.Line], path)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// walk checks n, to be decoded into a value of type t at path, and reports
// whether it may be decoded; if not, its problems are reported and the
// caller removes it. A list with a bad item is removed whole, so the
// items that stay keep the indexes they have in the file. Aliases are
// checked for their kind only: what they refer to is checked where it is
// defined.
func (tr *tree) walk(n *yaml.Node, t reflect.Type, path string) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		ok := true
		for _, c := range n.Content {
			ok = tr.walk(c, t, path) && ok
		}
		return ok
	case yaml.AliasNode:
		if n.Alias != nil && !kindFits(n.Alias, t) {
			return tr.fail(path, n, "expected %s, got %s", expected(t), got(n.Alias))
		}
		return true
	case yaml.ScalarNode:
		tr.record(n, path)
		if isNull(n) {
			return tr.fail(path, n, "null is not a value; leave the key out to get its default")
		}
		return tr.scalar(n, t, path)
	case yaml.SequenceNode:
		if !kindFits(n, t) {
			return tr.fail(path, n, "expected %s, got %s", expected(t), got(n))
		}
		ok := true
		for i, c := range n.Content {
			ok = tr.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)) && ok
		}
		return ok
	case yaml.MappingNode:
		if !kindFits(n, t) {
			return tr.fail(path, n, "expected %s, got %s", expected(t), got(n))
		}
	default:
		return true
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := yamlFields(t)
		tr.entries(n, t, path, func(k, v *yaml.Node) bool {
			key := join(path, clipValue(k.Value))
			tr.record(k, key)
			tr.keys[key] = true
			f, ok := fields[k.Value]
			if !ok {
				return tr.fail(key, k, "unknown key; the keys here are %s", strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
			}
			return tr.walk(v, f, key)
		})
	case reflect.Map:
		tr.entries(n, t, path, func(k, v *yaml.Node) bool {
			key := mapKey(path, k.Value, t.Elem())
			tr.record(k, key)
			return tr.walk(v, t.Elem(), key)
		})
	}
	return true
}

// entries calls each for every key and value of mapping n, to be decoded
// into t at path, and removes from n the entries each refuses: the
// entries of a merge key (<<) are walked as if they were n's own, and a
// null key or a key written twice is reported and removed.
func (tr *tree) entries(n *yaml.Node, t reflect.Type, path string, each func(k, v *yaml.Node) bool) {
	kept := n.Content[:0:0]
	seen := map[string]int{} // key → its line, for the keys written here (not merged)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ok := true
		switch {
		case isMerge(k):
			if v.Kind == yaml.MappingNode {
				tr.walk(v, t, path)
			}
		case isNull(k):
			// The entry is removed; the mapping holding it is not refused.
			tr.report(path, k, "a null key")
			ok = false
		case k.Kind == yaml.ScalarNode && seen[k.Value] != 0:
			key := join(path, clipValue(k.Value))
			if t.Kind() == reflect.Map {
				key = mapKey(path, k.Value, t.Elem())
			}
			tr.fail(key, k, "mapping key %q already defined at line %d", clipValue(k.Value), seen[k.Value])
			each(k, v) // for the problems of its value
			ok = false
		default:
			if k.Kind == yaml.ScalarNode {
				seen[k.Value] = k.Line
			}
			ok = each(k, v)
		}
		if ok {
			kept = append(kept, k, v)
		}
	}
	n.Content = kept
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge"
}

// yamlFields maps the YAML keys of struct type t to their field types, as
// yaml.v3 names them (the tag's name, else the lower-cased field name;
// ",inline" structs contribute their own keys).
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range yamlFields(ft) {
					out[k] = v
				}
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// join and mapKey build key paths as validation names them:
// environments.production.retention_overrides["30001"].
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func mapKey(path, key string, elem reflect.Type) string {
	for elem != nil && elem.Kind() == reflect.Pointer {
		elem = elem.Elem()
	}
	if elem == reflect.TypeFor[Environment]() {
		return join(path, clipValue(key)) // environments.production
	}
	return path + "[" + strconv.Quote(clipValue(key)) + "]"
}

func keyName(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

// pathAt names the key a decoding error at line is about: the one key or
// scalar on that line, or, for a flow mapping holding several, the key
// they share.
func (tr *tree) pathAt(line int) (string, bool) {
	paths := tr.lines[line]
	if len(paths) == 0 {
		return "", false
	}
	common := paths[0]
	for _, p := range paths[1:] {
		common = commonPath(common, p)
	}
	return common, true
}

// commonPath is the longest whole-segment path both a and b start with.
func commonPath(a, b string) string {
	best := 0
	for _, k := range boundaries(a) {
		if k <= len(b) && a[:k] == b[:k] && slices.Contains(boundaries(b), k) {
			best = max(best, k)
		}
	}
	return a[:best]
}

// boundaries lists the offsets k at which p[:k] is a whole path: before
// each "." or "[" that is not inside a quoted map key, and len(p).
func boundaries(p string) []int {
	var out []int
	inQuote := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && (c == '.' || c == '['):
			out = append(out, i)
		}
	}
	return append(out, len(p))
}

// Types that decode in their own way.
var (
	durationType = reflect.TypeFor[Duration]()
	budgetType   = reflect.TypeFor[Budget]()
	resetType    = reflect.TypeFor[Reset]()
	timeType     = reflect.TypeFor[time.Time]()
)

// kindFits reports whether a node of n's kind (a mapping, a list, a
// scalar) can decode into t, whatever its content.
func kindFits(n *yaml.Node, t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	scalarStruct := t == budgetType || t == timeType || t == resetType
	switch n.Kind {
	case yaml.MappingNode:
		return t.Kind() == reflect.Map || t.Kind() == reflect.Struct && (!scalarStruct || t == resetType)
	case yaml.SequenceNode:
		return t.Kind() == reflect.Slice || t.Kind() == reflect.Array
	case yaml.ScalarNode:
		switch t.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array:
			return false
		case reflect.Struct:
			return scalarStruct
		}
	}
	return true
}

// scalar checks a scalar (not null) to be decoded into t by decoding it.
func (tr *tree) scalar(n *yaml.Node, t reflect.Type, path string) bool {
	if !kindFits(n, t) {
		return tr.fail(path, n, "expected %s, got %s", expected(t), got(n))
	}
	v := reflect.New(t)
	err := n.Decode(v.Interface())
	switch {
	case err != nil && (t == durationType || t == budgetType || t == resetType):
		// Their own messages say what they take.
		return tr.fail(path, n, "%s", ownMessage(err))
	case err != nil && isInteger(t) && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float"):
		return tr.fail(path, n, "the number %s is out of range", clipValue(n.Value))
	case err != nil:
		return tr.fail(path, n, "expected %s, got %s", expected(t), got(n))
	case isInteger(t) && n.ShortTag() == "!!float":
		// yaml.v3 cuts 1.5 to 1; a value written must be the value used.
		var f float64
		if n.Decode(&f) != nil || f != math.Trunc(f) {
			return tr.fail(path, n, "expected %s, got %s", expected(t), got(n))
		}
	}
	return true
}

// ownMessage is the message of an error of an UnmarshalYAML method of this
// package, without its line (fail adds the key and the line).
func ownMessage(err error) string {
	msg := err.Error()
	if te, ok := errors.AsType[*yaml.TypeError](err); ok && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := typeErrorLine.FindStringSubmatch(msg); m != nil {
		msg = m[2]
	}
	return clipTo(strings.ToValidUTF8(msg, ""), maxMessage)
}

func isInteger(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}

// expected says what a value of type t is written as, in the words of
// YAML.
func expected(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case durationType:
		return "a duration such as 720h or 30d"
	case budgetType:
		return BudgetAuto + " or a duration such as 250ms"
	case timeType:
		return "a time such as 2026-11-01T00:00:00Z"
	case resetType:
		return "a time such as 2026-11-01T00:00:00Z, or a mapping {before: TIME, exclude_previous: true}"
	}
	switch {
	case isInteger(t):
		return "a whole number"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return `a list (items on lines starting with "- ", or [a, b])`
	case reflect.Map, reflect.Struct:
		return "a mapping (key: value lines indented under the key, or {key: value})"
	}
	return "another kind of value"
}

// got says what node n holds, in the words of YAML.
func got(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the text %q", clipValue(n.Value))
		case "!!int", "!!float":
			return "the number " + clipValue(n.Value)
		case "!!bool":
			return n.Value
		case "!!timestamp":
			return "the time " + clipValue(n.Value)
		case "!!null":
			return "null"
		}
		return strconv.Quote(clipValue(n.Value))
	}
	return "something else"
}
