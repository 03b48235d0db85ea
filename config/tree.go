package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxExpandedNodes bounds the YAML nodes a configuration may expand to
// through aliases (a small file of nested aliases, "billion laughs", would
// otherwise expand to an unbounded number). Real configurations are a few
// hundred nodes.
const maxExpandedNodes = 100_000

// tree checks a parsed YAML document against the Go type it will be
// decoded into, before decoding: every key must be one the type has, no
// value and no map key may be null (a null would silently become the zero
// value, so `retention: ~` would mean forever), and aliases may not expand
// beyond maxExpandedNodes. It also records which key path each line holds,
// so decoding errors, which carry only a line, can name the key.
type tree struct {
	errs   []error
	tooBig bool             // beyond maxExpandedNodes: not walked, not to be decoded
	lines  map[int][]string // line → paths of the keys and scalars on it
	keys   map[string]bool  // paths of the struct keys the document writes
}

func checkTree(doc *yaml.Node, t reflect.Type) *tree {
	tr := &tree{lines: map[int][]string{}, keys: map[string]bool{}}
	if n := expandedSize(doc, map[*yaml.Node]int{}); n > maxExpandedNodes {
		tr.errs = append(tr.errs, fmt.Errorf("the document expands to more than %d nodes through aliases", maxExpandedNodes))
		tr.tooBig = true
		return tr
	}
	tr.walk(doc, t, "")
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

func (tr *tree) fail(path string, n *yaml.Node, format string, args ...any) {
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

// walk checks n, to be decoded into a value of type t at path. Aliases are
// not followed: what they refer to is checked where it is defined.
func (tr *tree) walk(n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			tr.walk(c, t, path)
		}
		return
	case yaml.AliasNode:
		return
	case yaml.ScalarNode:
		tr.record(n, path)
		if isNull(n) {
			tr.fail(path, n, "null is not a value; leave the key out to get its default")
		}
		return
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice && t.Kind() != reflect.Array {
			return // the decoder reports the type mismatch
		}
		for i, c := range n.Content {
			tr.walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
		return
	case yaml.MappingNode:
	default:
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		fields := yamlFields(t)
		tr.entries(n, t, path, func(k, v *yaml.Node) {
			key := join(path, clipValue(k.Value))
			tr.record(k, key)
			tr.keys[key] = true
			f, ok := fields[k.Value]
			if !ok {
				tr.fail(key, k, "unknown key; the keys here are %s", strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
				return
			}
			tr.walk(v, f, key)
		})
	case reflect.Map:
		tr.entries(n, t, path, func(k, v *yaml.Node) {
			key := mapKey(path, k.Value, t.Elem())
			tr.record(k, key)
			tr.walk(v, t.Elem(), key)
		})
	}
}

// entries calls each for every key and value of mapping n, to be decoded
// into t at path: the entries of a merge key (<<) are walked as if they
// were n's own, and a null key is reported and skipped.
func (tr *tree) entries(n *yaml.Node, t reflect.Type, path string, each func(k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if isMerge(k) {
			if v.Kind == yaml.MappingNode {
				tr.walk(v, t, path)
			}
			continue
		}
		if isNull(k) {
			tr.fail(path, k, "a null key")
			continue
		}
		each(k, v)
	}
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
	for elem.Kind() == reflect.Pointer {
		elem = elem.Elem()
	}
	if elem.Kind() == reflect.Struct {
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
