package decision

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// The datafile is decoded with encoding/json/v2 (its module mirror), as a
// stream: a first pass checks the syntax of the whole document (UTF-8
// included) and notes where each top-level list is; a second decodes each
// list one element at a time into a reused raw value and builds it, the
// lists within an element too (see each). No list is ever decoded whole,
// so a datafile of many tiny elements costs what is built from them, and a
// value of the wrong type is reported with its JSON path, indexes
// included.
//
// Names match as encoding/json (v1) matches them: case-insensitively, the
// last of duplicate names winning; both are what the official SDK accepts.

// unmarshalOptions decode raw elements.
var unmarshalOptions = json.JoinOptions(
	json.MatchCaseInsensitiveNames(true),
	jsonv1.MatchCaseSensitiveDelimiter(true),
	jsontext.AllowDuplicateNames(true),
)

// topLevel is what the first pass finds: the scalar fields, and where each
// list is in the datafile.
type topLevel struct {
	version, revision string
	// projectID and environmentKey name the datafile's project and
	// environment: the scope of its overrides.
	projectID, environmentKey string
	lists                     [numLists]span
}

// span is a range of the datafile's bytes; the zero span is an absent
// field.
type span struct{ start, end int }

// The top-level lists, in the order they are built: each only refers to
// those before it.
const (
	listAttributes = iota
	listTypedAudiences
	listAudiences
	listExperiments
	listGroups
	listRollouts
	listFeatureFlags
	numLists
)

var listNames = [numLists]string{"attributes", "typedAudiences", "audiences", "experiments", "groups", "rollouts", "featureFlags"}

// splitTopLevel runs the first pass. It reports false, with the problem
// added, for a datafile that is not JSON or not an object of the right
// shape.
func splitTopLevel(data []byte, p *problems) (topLevel, bool) {
	var top topLevel
	dec := jsontext.NewDecoder(bytes.NewBuffer(data), unmarshalOptions)
	switch dec.PeekKind() {
	case '{':
	case 'n':
		// null decodes to an empty datafile, as in encoding/json.
		if _, err := dec.ReadToken(); err != nil {
			return top, syntaxProblem(err, 0, p)
		}
		return top, atEOF(dec, data, p)
	default:
		v, err := dec.ReadValue()
		if err != nil {
			return top, syntaxProblem(err, 0, p)
		}
		if !atEOF(dec, data, p) {
			return top, false
		}
		p.fatal("top level: got a JSON %s, want an object", kindName(v.Kind()))
		return top, false
	}
	if _, err := dec.ReadToken(); err != nil {
		return top, syntaxProblem(err, 0, p)
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return top, syntaxProblem(err, 0, p)
		}
		name := tok.String()
		var scalar *string
		list := -1
		// optional scalars are read when they are strings and ignored
		// otherwise: they only scope overrides.
		optional := false
		switch {
		case strings.EqualFold(name, "version"):
			scalar = &top.version
		case strings.EqualFold(name, "revision"):
			scalar = &top.revision
		case strings.EqualFold(name, "projectId"):
			scalar, optional = &top.projectID, true
		case strings.EqualFold(name, "environmentKey"):
			scalar, optional = &top.environmentKey, true
		default:
			for i, l := range listNames {
				if strings.EqualFold(name, l) {
					list = i
				}
			}
		}
		if scalar == nil && list < 0 {
			if err := dec.SkipValue(); err != nil {
				return top, syntaxProblem(err, 0, p)
			}
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return top, syntaxProblem(err, 0, p)
		}
		switch {
		case scalar != nil && v.Kind() == '"':
			if err := json.Unmarshal(v, scalar); err != nil {
				return top, syntaxProblem(err, 0, p)
			}
		case scalar != nil && (v.Kind() == 'n' || optional):
			// null leaves the field as it was, as in encoding/json.
		case scalar != nil:
			return top, shapeProblem(name, v.Kind(), "a string", p)
		case v.Kind() == '[' || v.Kind() == 'n':
			end := int(dec.InputOffset())
			top.lists[list] = span{start: end - len(v), end: end}
		default:
			return top, shapeProblem(listNames[list], v.Kind(), "a list", p)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return top, syntaxProblem(err, 0, p)
	}
	return top, atEOF(dec, data, p)
}

// atEOF reports whether nothing but whitespace follows the top-level
// value.
func atEOF(dec *jsontext.Decoder, data []byte, p *problems) bool {
	rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")
	if len(rest) > 0 {
		p.fatal("not valid JSON at byte %d: data after the top-level value", len(data)-len(rest))
		return false
	}
	return true
}

func shapeProblem(where string, got jsontext.Kind, want string, p *problems) bool {
	p.fatal("%s: got a JSON %s, want %s", quotedPathToken(where, p.lim.MaxQuoteBytes), kindName(got), want)
	return false
}

// syntaxProblem reports JSON that does not parse; offset is where the
// parsed bytes start in the datafile.
func syntaxProblem(err error, offset int64, p *problems) bool {
	var syn *jsontext.SyntacticError
	if errors.As(err, &syn) {
		p.fatal("not valid JSON at byte %d: %v", offset+syn.ByteOffset, syn.Err)
	} else {
		p.fatal("not valid JSON at byte %d: %v", offset, err)
	}
	return false
}

// rawElement is a raw list element; reset zeroes it for the next one.
type rawElement[T any] interface {
	*T
	reset()
}

// each decodes the elements of list, the field name of the element at at
// (nil: a top-level list), one at a time into *raw (reset first) and calls
// fn with each index. A value that is not a list, or an element that does
// not fit T, is reported at its JSON path, and parsing stops: each then
// reports false, as it does once anything below it stopped parsing.
func each[T any, PT rawElement[T]](b *builder, list jsontext.Value, at *path, name string, raw PT, fn func(i int)) bool {
	dec, ok := b.openList(list, at, name)
	if dec == nil {
		return ok
	}
	defer b.closeList()
	for i := 0; dec.PeekKind() != ']'; i++ {
		raw.reset()
		if err := json.UnmarshalDecode(dec, raw, unmarshalOptions); err != nil {
			return jsonProblem(err, jsonPath(at, name), b.p)
		}
		fn(i)
		if b.p.stopped {
			return false
		}
	}
	return true
}

// eachString is each for a list of strings.
func eachString(b *builder, list jsontext.Value, at *path, name string, fn func(i int, s string)) bool {
	dec, ok := b.openList(list, at, name)
	if dec == nil {
		return ok
	}
	defer b.closeList()
	for i := 0; dec.PeekKind() != ']'; i++ {
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxProblem(err, 0, b.p)
		}
		if tok.Kind() != '"' {
			b.p.fatal("%s[%d]: got a JSON %s, want a string", jsonPath(at, name), i, kindName(tok.Kind()))
			return false
		}
		fn(i, tok.String())
	}
	return true
}

// openList returns a decoder positioned in list, or nil for an absent or
// null list (true) or a value that is not a list (false, reported).
// Decoders are reused, one per nesting depth.
func (b *builder) openList(list jsontext.Value, at *path, name string) (*jsontext.Decoder, bool) {
	switch k := list.Kind(); k {
	case 0, 'n':
		return nil, true
	case '[':
	default:
		b.p.fatal("%s: got a JSON %s, want a list", jsonPath(at, name), kindName(k))
		return nil, false
	}
	if b.depth == len(b.decs) {
		b.decs = append(b.decs, &listDecoder{})
	}
	ld := b.decs[b.depth]
	ld.buf = *bytes.NewBuffer(list)
	if ld.dec == nil {
		ld.dec = jsontext.NewDecoder(&ld.buf, unmarshalOptions)
	} else {
		ld.dec.Reset(&ld.buf, unmarshalOptions)
	}
	dec := ld.dec
	b.depth++
	if _, err := dec.ReadToken(); err != nil { // [
		b.depth--
		return nil, syntaxProblem(err, 0, b.p)
	}
	return dec, true
}

func (b *builder) closeList() { b.depth-- }

// listDecoder reads one list; the decoder parses straight from buf.
type listDecoder struct {
	buf bytes.Buffer
	dec *jsontext.Decoder
}

// countElements counts the elements of a JSON list, valid JSON, without
// decoding it, so that what is built from them is allocated once.
func countElements(list []byte) int {
	depth, commas := 0, 0
	empty, inString := true, false
	for i := 0; i < len(list); i++ {
		c := list[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '[', '{':
			depth++
			if depth == 2 {
				empty = false
			}
			continue
		case ']', '}':
			depth--
			continue
		case ',':
			if depth == 1 {
				commas++
			}
			continue
		case '"':
			inString = true
		}
		if depth == 1 {
			empty = false
		}
	}
	if empty {
		return 0
	}
	return commas + 1
}

// jsonPath renders the JSON path of field name of the element at at:
// groups[0].experiments[1].variations.
func jsonPath(at *path, name string) string {
	var segs [maxRenderedSegments]*path
	n := 0
	for s := at; s != nil && n < len(segs); s = s.up {
		segs[n] = s
		n++
	}
	var b strings.Builder
	for i := n - 1; i >= 0; i-- {
		b.WriteString(segs[i].list)
		if segs[i].index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(segs[i].index))
			b.WriteByte(']')
		}
		b.WriteByte('.')
	}
	b.WriteString(name)
	return b.String()
}

// jsonProblem reports a value of the wrong type within the list at where,
// at its JSON path with indexes: experiments[3].trafficAllocation[0].
// endOfRange.
func jsonProblem(err error, where string, p *problems) bool {
	var sem *json.SemanticError
	if !errors.As(err, &sem) {
		return syntaxProblem(err, 0, p)
	}
	where = renderPointer(where, sem.JSONPointer, p.lim.MaxQuoteBytes)
	switch {
	case sem.GoType != nil && sem.JSONKind != 0:
		detail := ""
		if sem.Err != nil {
			detail = fmt.Sprintf(" (%v)", sem.Err)
		}
		p.fatal("%s: got a JSON %s, want %s%s", where, kindName(sem.JSONKind), wantedJSON(sem.GoType), detail)
	case sem.Err != nil:
		p.fatal("%s: %v", where, sem.Err)
	default:
		p.fatal("%s: not valid here", where)
	}
	return false
}

// listFields are the fields whose values are lists, so that a numeric
// pointer token after one is an index (a key of forcedVariations may be
// numeric too).
var listFields = map[string]bool{
	"attributes": true, "typedAudiences": true, "audiences": true, "experiments": true,
	"groups": true, "rollouts": true, "featureFlags": true, "variations": true,
	"trafficAllocation": true, "audienceIds": true, "experimentIds": true, "variables": true,
}

// renderPointer renders a JSON pointer within the list at list as a
// path: /3/status within experiments is experiments[3].status. Long names
// are cut.
func renderPointer(list string, ptr jsontext.Pointer, quoteMax int) string {
	var b strings.Builder
	b.WriteString(list)
	inList := true
	for tok := range ptr.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && inList {
			b.WriteByte('[')
			b.WriteString(tok)
			b.WriteByte(']')
			inList = false
			continue
		}
		b.WriteByte('.')
		b.WriteString(quotedPathToken(tok, quoteMax))
		inList = listFields[tok]
	}
	return b.String()
}

// quotedPathToken is a name in a JSON path, cut if long.
func quotedPathToken(tok string, quoteMax int) string {
	return cut(tok, quoteMax)
}

// kindName names a JSON kind as encoding/json's errors do.
func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "bool"
	case '"':
		return "string"
	case '0':
		return "number"
	case '{':
		return "object"
	case '[':
		return "array"
	}
	return "value"
}

// wantedJSON names the JSON a Go field takes, without our type names.
func wantedJSON(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[jsontext.Value]() {
			return "JSON"
		}
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Float64, reflect.Float32:
		return "a number"
	}
	return t.String()
}

// nestedDeeper reports whether the JSON value b nests lists and objects
// more than max deep. It reads b once without decoding or allocating, so
// it can run before any recursive work. b need not be valid JSON.
func nestedDeeper(b []byte, max int) bool {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > max {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}
