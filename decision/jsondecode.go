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
// list one element at a time, into one reused raw value, and builds it.
// Raw elements are never all in memory at once, and a value of the wrong
// type is reported with its JSON path, indexes included.
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
	lists             [numLists]span
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
		switch {
		case strings.EqualFold(name, "version"):
			scalar = &top.version
		case strings.EqualFold(name, "revision"):
			scalar = &top.revision
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
		case scalar != nil && v.Kind() == 'n':
			*scalar = ""
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

// rawElement is a raw list element. reset zeroes it for the next element
// but keeps the capacity of the lists it holds that nothing built from it
// keeps, so that decoding them does not allocate them again and again
// (encoding/json/v2 zeroes each reused list element before decoding it).
type rawElement[T any] interface {
	*T
	reset()
}

// eachElement decodes the list at s one element at a time into *raw
// (reset first) and calls fn with its index. It stops at the first
// element that does not fit T, reporting it, and reports whether all did.
func eachElement[T any, PT rawElement[T]](data []byte, list string, s span, raw PT, p *problems, fn func(i int)) bool {
	if s.end == 0 {
		return true
	}
	dec := jsontext.NewDecoder(bytes.NewBuffer(data[s.start:s.end]), unmarshalOptions)
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '[' {
		return true // null: no elements (the first pass checked the kind)
	}
	for i := 0; dec.PeekKind() != ']'; i++ {
		raw.reset()
		if err := json.UnmarshalDecode(dec, raw, unmarshalOptions); err != nil {
			return jsonProblem(err, list, int64(s.start), p)
		}
		fn(i)
	}
	return true
}

// jsonProblem reports a value of the wrong type within list, at its JSON
// path with indexes: experiments[3].trafficAllocation[0].endOfRange.
func jsonProblem(err error, list string, offset int64, p *problems) bool {
	var sem *json.SemanticError
	if !errors.As(err, &sem) {
		return syntaxProblem(err, offset, p)
	}
	where := renderPointer(list, sem.JSONPointer, p.lim.MaxQuoteBytes)
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

// renderPointer renders a JSON pointer within list as a path:
// /3/trafficAllocation/0/endOfRange within experiments is
// experiments[3].trafficAllocation[0].endOfRange. Long names are cut.
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
