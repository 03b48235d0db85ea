package decision

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// tri is a three-valued truth: audience conditions are null when they
// cannot be evaluated (missing attribute, wrong type, unknown match).
type tri int8

const (
	triFalse tri = iota
	triTrue
	triNull
)

func (t tri) String() string {
	switch t {
	case triTrue:
		return "TRUE"
	case triFalse:
		return "FALSE"
	}
	return "UNKNOWN"
}

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// matchKind is a leaf's match type, resolved at load time.
type matchKind uint8

const (
	// matchNull always evaluates to null: an unknown match or condition
	// type. The SDKs treat these as null rather than rejecting the
	// datafile, so new match types added by Optimizely degrade gracefully.
	matchNull matchKind = iota
	matchExact
	matchExists
	matchSubstring
	matchGT
	matchGE
	matchLT
	matchLE
	matchSemverEQ
	matchSemverGT
	matchSemverGE
	matchSemverLT
	matchSemverLE
	matchQualified
)

var matchKinds = map[string]matchKind{
	"":          matchExact, // a missing match means exact
	"exact":     matchExact,
	"exists":    matchExists,
	"substring": matchSubstring,
	"gt":        matchGT,
	"ge":        matchGE,
	"lt":        matchLT,
	"le":        matchLE,
	"semver_eq": matchSemverEQ,
	"semver_gt": matchSemverGT,
	"semver_ge": matchSemverGE,
	"semver_lt": matchSemverLT,
	"semver_le": matchSemverLE,
	"qualified": matchQualified,
}

// valueKind is the JSON type of a condition's value.
type valueKind uint8

const (
	valueOther valueKind = iota // null, list, object: no matcher accepts it
	valueString
	valueBool
	valueNumber
)

// condition is a parsed leaf such as
// {"type": "custom_attribute", "name": "age", "match": "ge", "value": 18}.
// Everything that does not depend on the user is decided at load time.
type condition struct {
	name  string
	match matchKind
	kind  valueKind
	str   string
	b     bool
	num   float64
	// numOK is false for numbers Python refuses to compare (not finite or
	// beyond 2^53 in magnitude); such conditions are null.
	numOK bool
	// ver is the parsed value of a semver_* condition; nil if it does not
	// parse (the condition is then null) and for other matches.
	ver *semver
	// unknown is, for a condition of an unknown type or match (matchNull),
	// the official Go SDK's reason for it.
	unknown string
}

func newCondition(typ, name, match string, value any) *condition {
	c := &condition{name: name, match: conditionMatch(typ, match)}
	switch v := value.(type) {
	case string:
		c.kind, c.str = valueString, v
		if c.match >= matchSemverEQ && c.match <= matchSemverLE {
			if ver, ok := parseSemver(v); ok {
				c.ver = &ver
			}
		}
	case bool:
		c.kind, c.b = valueBool, v
	case float64:
		c.kind = valueNumber
		c.num, c.numOK = safeFloat(v)
	}
	return c
}

// conditionMatch is the match of a condition of type typ: matchNull for
// an unknown match or type.
func conditionMatch(typ, match string) matchKind {
	m, known := matchKinds[match]
	if !known || (typ != "custom_attribute" && typ != "third_party_dimension") {
		return matchNull
	}
	return m
}

// eval evaluates the leaf against attrs. It must not allocate: it runs for
// every audience of every experiment and rule a decision visits. It is
// kept whole (over 80 lines): it is the one table of what each match
// means, read case by case, and splitting the hot path into calls would
// only scatter it.
func (c *condition) eval(attrs map[string]any) tri {
	switch c.match {
	case matchNull:
		return triNull
	case matchQualified:
		// Users carry no ODP segments here, so they qualify for none, as
		// in the official SDKs for a user whose segments were not fetched.
		// A non-string segment name is malformed: null, as there too.
		if c.kind == valueString {
			return triFalse
		}
		return triNull
	case matchExists:
		v, ok := attrs[c.name]
		return triOf(ok && v != nil)
	}
	v, ok := attrs[c.name]
	if !ok || v == nil {
		return triNull
	}
	switch c.match {
	case matchExact:
		switch c.kind {
		case valueString:
			s, ok := v.(string)
			if !ok {
				return triNull
			}
			return triOf(s == c.str)
		case valueBool:
			b, ok := v.(bool)
			if !ok {
				return triNull
			}
			return triOf(b == c.b)
		case valueNumber:
			f, ok := number(v)
			if !ok || !c.numOK {
				return triNull
			}
			return triOf(f == c.num)
		}
		return triNull
	case matchSubstring:
		s, ok := v.(string)
		if !ok || c.kind != valueString {
			return triNull
		}
		return triOf(strings.Contains(s, c.str))
	case matchGT, matchGE, matchLT, matchLE:
		f, ok := number(v)
		if !ok || c.kind != valueNumber || !c.numOK {
			return triNull
		}
		switch c.match {
		case matchGT:
			return triOf(f > c.num)
		case matchGE:
			return triOf(f >= c.num)
		case matchLT:
			return triOf(f < c.num)
		}
		return triOf(f <= c.num)
	}
	// semver_*
	s, ok := v.(string)
	if !ok || c.kind != valueString || c.ver == nil {
		return triNull
	}
	a, ok := parseSemver(s)
	if !ok {
		return triNull
	}
	r := compareSemver(a, *c.ver)
	switch c.match {
	case matchSemverEQ:
		return triOf(r == 0)
	case matchSemverGT:
		return triOf(r > 0)
	case matchSemverGE:
		return triOf(r >= 0)
	case matchSemverLT:
		return triOf(r < 0)
	}
	return triOf(r <= 0)
}

// maxSafeNumber is 2^53: beyond it float64 cannot hold every integer, so
// Python's SDK (and we) refuse to compare.
const maxSafeNumber = 1 << 53

func safeFloat(f float64) (float64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > maxSafeNumber {
		return 0, false
	}
	return f, true
}

func safeInt(i int64) (float64, bool) {
	if i > maxSafeNumber || i < -maxSafeNumber {
		return 0, false
	}
	return float64(i), true
}

func safeUint(u uint64) (float64, bool) {
	if u > maxSafeNumber {
		return 0, false
	}
	return float64(u), true
}

// number reads an attribute value as a comparable number. Like the official
// Go SDK it accepts every Go integer and float type, named numeric types and
// pointers to them; bool and strings are not numbers. Unlike it, json.Number
// is read too (callers decoding JSON with UseNumber get numbers, not null),
// and unsafe numbers (see safeFloat) are rejected, checked on the integer
// itself so 2^53+1 is not rounded into range.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return safeFloat(x)
	case int:
		return safeInt(int64(x))
	case int64:
		return safeInt(x)
	case int32:
		return safeInt(int64(x))
	case float32:
		return safeFloat(float64(x))
	case uint:
		return safeUint(uint64(x))
	case uint64:
		return safeUint(x)
	case uint32:
		return safeUint(uint64(x))
	case int16:
		return safeInt(int64(x))
	case int8:
		return safeInt(int64(x))
	case uint16:
		return safeUint(uint64(x))
	case uint8:
		return safeUint(uint64(x))
	case json.Number:
		return jsonNumber(string(x))
	case string, bool:
		return 0, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return 0, false
		}
		rv = rv.Elem()
	}
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return safeInt(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return safeUint(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return safeFloat(rv.Float())
	}
	return 0, false
}

// jsonNumber parses integers exactly (so the 2^53 check is exact) and
// everything else as float64.
func jsonNumber(s string) (float64, bool) {
	integer := s != ""
	for i := 0; i < len(s) && integer; i++ {
		integer = s[i] >= '0' && s[i] <= '9' || (i == 0 && s[i] == '-' && len(s) > 1)
	}
	if integer {
		i, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, false
		}
		return safeInt(i)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return safeFloat(f)
}
