package decision

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// varType is a flag variable's type. Values are typed as the official Go
// SDK types them: bool, int, float64, string, and decoded JSON.
type varType uint8

const (
	varString varType = iota
	varBoolean
	varInteger
	varDouble
	varJSON
)

func (t varType) String() string {
	switch t {
	case varBoolean:
		return "boolean"
	case varInteger:
		return "integer"
	case varDouble:
		return "double"
	case varJSON:
		return "json"
	}
	return "string"
}

// variableType maps a datafile type. JSON variables come as type "json" or,
// in older datafiles, type "string" with subType "json". Unknown types are
// served as strings, as the official SDK does, so a new type does not make
// the whole datafile unusable.
func variableType(typ, subType string) varType {
	switch typ {
	case "boolean":
		return varBoolean
	case "integer":
		return varInteger
	case "double":
		return varDouble
	case "json":
		return varJSON
	case "string":
		if subType == "json" {
			return varJSON
		}
	}
	return varString
}

// typedValue parses a raw variable value; false if it does not parse as
// t (see valueProblem). The result is boxed once here and shared by every
// decision, so serving variables allocates only the map (and copies of
// JSON values).
func typedValue(t varType, s string) (any, bool) {
	switch t {
	case varBoolean:
		b, err := strconv.ParseBool(s)
		return b, err == nil
	case varInteger:
		i, err := strconv.Atoi(s)
		return i, err == nil
	case varDouble:
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	case varJSON:
		var v any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, false
		}
		return v, true
	}
	return s, true
}

// valueProblem says why s, which typedValue refused, is not a value of
// type t, quoting at most quoteMax bytes of it.
func valueProblem(t varType, s string, quoteMax int) string {
	q := quote(s, quoteMax)
	if t == varJSON {
		var v any
		err := json.Unmarshal([]byte(s), &v)
		return fmt.Sprintf("value %s is not JSON: %v", q, err)
	}
	article := "a"
	if t == varInteger {
		article = "an"
	}
	return fmt.Sprintf("value %s is not %s %s", q, article, t)
}

// cloneJSON deep-copies a decoded JSON value so callers may modify what
// they get without touching the datafile.
func cloneJSON(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneJSON(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneJSON(e)
		}
		return l
	}
	return v
}
