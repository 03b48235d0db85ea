package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// request is one line of a requests file.
type request struct {
	UserID     string
	Attributes map[string]any
	IsFlag     bool // the request names a flag, else an experiment
	Experiment string
	Flag       string
	Options    []decision.Option
	// Forced are the line's forcedDecisions, for flags.
	Forced []decision.ForcedDecision
	// Deprecated lists the old field names the line used (user_id,
	// attributes, options), for decide to warn about.
	Deprecated []string
}

// The fields of a request line: the names of the HTTP API's decide body
// (Agent's), matched exactly, and the flag or experiment to decide. The
// names request lines had before are still read, and deprecated.
const (
	fieldUserID     = "userId"
	fieldAttributes = "userAttributes"
	fieldOptions    = "decideOptions"
	fieldExperiment = "experiment"
	fieldFlag       = "flag"
	fieldForced     = "forcedDecisions"
)

// deprecatedNames maps each field to the name it had before.
var deprecatedNames = map[string]string{
	fieldUserID:     "user_id",
	fieldAttributes: "attributes",
	fieldOptions:    "options",
}

// nearNames maps a field name folded (lower case, without _ and -) to the
// name to write, so "userid", "USER_ID" or "Attributes", which a decoder
// matching names loosely would take, are refused with the right name.
var nearNames = map[string]string{}

func init() {
	for _, name := range []string{fieldUserID, fieldAttributes, fieldOptions, fieldExperiment, fieldFlag, fieldForced} {
		nearNames[foldName(name)] = name
		if old, ok := deprecatedNames[name]; ok {
			nearNames[foldName(old)] = name
		}
	}
}

func foldName(s string) string {
	return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
}

// requestFields holds a line's fields undecoded, so each can be checked
// on its bytes (text validity, type) and reported by name.
type requestFields struct {
	raw        map[string]json.RawMessage
	deprecated []string
}

// get returns the field name, or its deprecated name, and the name the
// line used; both given is an error.
func (f *requestFields) get(name string) (raw json.RawMessage, as string, err error) {
	raw, as = f.raw[name], name
	if old, ok := deprecatedNames[name]; ok {
		if oldRaw, given := f.raw[old]; given {
			if _, both := f.raw[name]; both {
				return nil, "", fmt.Errorf("give %q or its deprecated name %q, not both", name, old)
			}
			raw, as = oldRaw, old
			f.deprecated = append(f.deprecated, old)
		}
	}
	return raw, as, nil
}

// parseRequest validates one request line. Field names are exact: a name
// that only differs in case or underscores from one of the fields is an
// error naming the right one; other unknown fields are ignored, as the
// HTTP API ignores them. Numbers in attributes decode as float64, as the
// SDKs see JSON numbers. Every string must be valid text: invalid UTF-8 or
// a lone surrogate escape is an error rather than the U+FFFD that decoding
// would put in its place. Messages name the field at fault as the line
// wrote it and repeat at most maxEcho bytes of any value.
func parseRequest(line []byte) (request, error) {
	f := requestFields{}
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&f.raw); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return request{}, errors.New("a request must be a JSON object")
		}
		return request{}, fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return request{}, errors.New("invalid JSON: more than one value on the line")
	}
	if f.raw == nil {
		return request{}, errors.New("a request must be a JSON object")
	}
	for _, name := range slices.Sorted(maps.Keys(f.raw)) {
		if want, ok := nearNames[foldName(name)]; ok && name != want && name != deprecatedNames[want] {
			return request{}, fmt.Errorf("unknown field %s: field names are exact, write %q", quote(name), want)
		}
	}
	var r request
	raw, as, err := f.get(fieldUserID)
	if err != nil {
		return request{}, err
	}
	userID, ok, err := stringField(as, raw)
	switch {
	case err != nil:
		return request{}, err
	case !ok:
		return request{}, fmt.Errorf("missing %q", fieldUserID)
	case userID == "":
		return request{}, fmt.Errorf("%q is empty", as)
	}
	r.UserID = userID
	experiment, isExperiment, err := stringField(fieldExperiment, f.raw[fieldExperiment])
	if err != nil {
		return request{}, err
	}
	flag, isFlag, err := stringField(fieldFlag, f.raw[fieldFlag])
	if err != nil {
		return request{}, err
	}
	switch {
	case !isExperiment && !isFlag:
		return request{}, errors.New(`one of "experiment" or "flag" is required`)
	case isExperiment && isFlag:
		return request{}, errors.New(`give "experiment" or "flag", not both`)
	case isExperiment:
		r.Experiment = experiment
	default:
		r.IsFlag, r.Flag = true, flag
	}
	if raw, as, err = f.get(fieldAttributes); err != nil {
		return request{}, err
	}
	if r.Attributes, err = parseAttributes(as, raw); err != nil {
		return request{}, err
	}
	if raw, as, err = f.get(fieldOptions); err != nil {
		return request{}, err
	}
	if r.Options, err = parseOptions(as, raw); err != nil {
		return request{}, err
	}
	if r.Forced, err = parseForced(fieldForced, f.raw[fieldForced]); err != nil {
		return request{}, err
	}
	if r.Forced != nil && !r.IsFlag {
		return request{}, fmt.Errorf("%q apply to flags: give \"flag\", or leave them out", fieldForced)
	}
	r.Deprecated = f.deprecated
	return r, nil
}

// absent reports whether a field was left out or given as null.
func absent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// stringField decodes a string field; ok is false when it is absent or
// null.
func stringField(name string, raw json.RawMessage) (s string, ok bool, err error) {
	if absent(raw) {
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, fmt.Errorf("%q must be a string, got %s", name, describe(raw))
	}
	if err := ups.ValidateJSONText(raw); err != nil {
		return "", false, fmt.Errorf("%q is %w", name, err)
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, fmt.Errorf("%q: %v", name, err)
	}
	return s, true, nil
}

// parseAttributes decodes the attributes object one attribute at a time,
// so an error can name the attribute, and checks every name and string
// value for valid text first.
func parseAttributes(name string, raw json.RawMessage) (map[string]any, error) {
	if absent(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf("%q must be an object, got %s", name, describe(raw))
	}
	// The common case in one pass; the slow path below only finds out
	// which attribute is at fault.
	if ups.ValidateJSONText(raw) == nil {
		var attrs map[string]any
		if err := json.Unmarshal(raw, &attrs); err == nil {
			return attrs, nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return nil, fmt.Errorf("%q: %v", name, err)
	}
	attrs := map[string]any{}
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%q: %v", name, err)
		}
		attr, _ := tok.(string)
		// The bytes read for the name may start with the comma and
		// whitespace before it; only the quoted name matters.
		rawName := bytes.TrimLeft(raw[start:dec.InputOffset()], ", \t\r\n")
		if err := ups.ValidateJSONText(rawName); err != nil {
			return nil, fmt.Errorf("attribute name %s is %w", quote(string(rawName)), err)
		}
		var rawValue json.RawMessage
		if err := dec.Decode(&rawValue); err != nil {
			return nil, fmt.Errorf("attribute %s: %v", quote(attr), err)
		}
		if err := ups.ValidateJSONText(rawValue); err != nil {
			return nil, fmt.Errorf("attribute %s: value is %w", quote(attr), err)
		}
		var v any
		if err := json.Unmarshal(rawValue, &v); err != nil {
			if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && strings.HasPrefix(te.Value, "number ") {
				return nil, fmt.Errorf("attribute %s: number %s does not fit in a 64-bit float", quote(attr), clip(strings.TrimPrefix(te.Value, "number ")))
			}
			return nil, fmt.Errorf("attribute %s: %v", quote(attr), err)
		}
		attrs[attr] = v
	}
	// Only attributes the one pass rejected come here, so this is not
	// reached in practice; the path is a complete parser on its own.
	return attrs, nil
}

// arrayItems splits the JSON array of field into its raw items; nil for
// an absent field (left out or null), an error naming field and what its
// items should be (of, such as "strings") for anything but an array.
func arrayItems(field, of string, raw json.RawMessage) ([]json.RawMessage, error) {
	if absent(raw) {
		return nil, nil
	}
	if raw[0] != '[' {
		return nil, fmt.Errorf("%q must be an array of %s, got %s", field, of, describe(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%q: %v", field, err)
	}
	return items, nil
}

// parseOptions decodes the decide options array, the field name.
func parseOptions(field string, raw json.RawMessage) ([]decision.Option, error) {
	items, err := arrayItems(field, "strings", raw)
	if err != nil {
		return nil, err
	}
	var opts []decision.Option
	for i, item := range items {
		name := fmt.Sprintf("%s[%d]", field, i)
		s, ok, err := stringField(name, item)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%q must be a string, got null", name)
		}
		o, err := decision.ParseOption(s)
		if err != nil {
			return nil, fmt.Errorf("%q: unknown decide option %s", name, quote(s))
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// The fields of a forced decision, as in the HTTP API's decide body.
var forcedFields = [...]string{"flagKey", "ruleKey", "variationKey"}

// parseForced decodes forcedDecisions: at most decision.MaxForcedDecisions
// objects whose flagKey, ruleKey and variationKey, each optional, are
// strings (as Agent, an entry without flagKey forces nothing and one
// without variationKey names no variation; ruleKey left out forces the
// whole flag). Other fields of an entry are ignored, but a near miss of
// one of these names is an error naming it.
func parseForced(field string, raw json.RawMessage) ([]decision.ForcedDecision, error) {
	items, err := arrayItems(field, "objects", raw)
	if err != nil || items == nil {
		return nil, err
	}
	if len(items) > decision.MaxForcedDecisions {
		return nil, fmt.Errorf("%q: %d entries, over the limit of %d", field, len(items), decision.MaxForcedDecisions)
	}
	out := make([]decision.ForcedDecision, len(items))
	for i, item := range items {
		name := fmt.Sprintf("%s[%d]", field, i)
		var entry map[string]json.RawMessage
		if len(item) == 0 || item[0] != '{' || json.Unmarshal(item, &entry) != nil {
			return nil, fmt.Errorf("%q must be an object, got %s", name, describe(item))
		}
		for _, k := range slices.Sorted(maps.Keys(entry)) {
			for _, want := range forcedFields {
				if k != want && foldName(k) == foldName(want) {
					return nil, fmt.Errorf("unknown field %s in %q: field names are exact, write %q", quote(k), name, want)
				}
			}
		}
		var keys [len(forcedFields)]string
		for j, k := range forcedFields {
			s, _, err := stringField(name+"."+k, entry[k])
			if err != nil {
				return nil, err
			}
			keys[j] = s
		}
		out[i] = decision.ForcedDecision{FlagKey: keys[0], RuleKey: keys[1], VariationKey: keys[2]}
	}
	return out, nil
}

// describe names the JSON type of a raw value, with the value itself when
// it is a short scalar.
func describe(raw json.RawMessage) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return string(raw)
	case 'n':
		return "null"
	}
	return "number " + clip(string(raw))
}
