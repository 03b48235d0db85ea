package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
}

// rawRequest keeps every field undecoded, so each can be checked on its
// bytes (text validity, type) and reported by name.
type rawRequest struct {
	UserID     json.RawMessage `json:"user_id"`
	Attributes json.RawMessage `json:"attributes"`
	Experiment json.RawMessage `json:"experiment"`
	Flag       json.RawMessage `json:"flag"`
	Options    json.RawMessage `json:"options"`
}

// parseRequest validates one request line. Numbers in attributes decode
// as float64, as the SDKs see JSON numbers. Every string must be valid
// text: invalid UTF-8 or a lone surrogate escape is an error rather than
// the U+FFFD that decoding would put in its place. Messages name the field
// at fault and repeat at most maxEcho bytes of any value.
func parseRequest(line []byte) (request, error) {
	var raw rawRequest
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&raw); err != nil {
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return request{}, errors.New("a request must be a JSON object")
		}
		return request{}, fmt.Errorf("invalid JSON: %v", err)
	}
	if dec.More() {
		return request{}, errors.New("invalid JSON: more than one value on the line")
	}
	var r request
	userID, ok, err := stringField("user_id", raw.UserID)
	switch {
	case err != nil:
		return request{}, err
	case !ok:
		return request{}, errors.New(`missing "user_id"`)
	case userID == "":
		return request{}, errors.New(`"user_id" is empty`)
	}
	r.UserID = userID
	experiment, isExperiment, err := stringField("experiment", raw.Experiment)
	if err != nil {
		return request{}, err
	}
	flag, isFlag, err := stringField("flag", raw.Flag)
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
	if r.Attributes, err = parseAttributes(raw.Attributes); err != nil {
		return request{}, err
	}
	if r.Options, err = parseOptions(raw.Options); err != nil {
		return request{}, err
	}
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
func parseAttributes(raw json.RawMessage) (map[string]any, error) {
	if absent(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, fmt.Errorf(`"attributes" must be an object, got %s`, describe(raw))
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
		return nil, fmt.Errorf(`"attributes": %v`, err)
	}
	attrs := map[string]any{}
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf(`"attributes": %v`, err)
		}
		name, _ := tok.(string)
		// The bytes read for the name may start with the comma and
		// whitespace before it; only the quoted name matters.
		rawName := bytes.TrimLeft(raw[start:dec.InputOffset()], ", \t\r\n")
		if err := ups.ValidateJSONText(rawName); err != nil {
			return nil, fmt.Errorf("attribute name %s is %w", quote(string(rawName)), err)
		}
		var rawValue json.RawMessage
		if err := dec.Decode(&rawValue); err != nil {
			return nil, fmt.Errorf("attribute %s: %v", quote(name), err)
		}
		if err := ups.ValidateJSONText(rawValue); err != nil {
			return nil, fmt.Errorf("attribute %s: value is %w", quote(name), err)
		}
		var v any
		if err := json.Unmarshal(rawValue, &v); err != nil {
			if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok && strings.HasPrefix(te.Value, "number ") {
				return nil, fmt.Errorf("attribute %s: number %s does not fit in a 64-bit float", quote(name), clip(strings.TrimPrefix(te.Value, "number ")))
			}
			return nil, fmt.Errorf("attribute %s: %v", quote(name), err)
		}
		attrs[name] = v
	}
	// Only attributes the one pass rejected come here, so this is not
	// reached in practice; the path is a complete parser on its own.
	return attrs, nil
}

// parseOptions decodes the options array.
func parseOptions(raw json.RawMessage) ([]decision.Option, error) {
	if absent(raw) {
		return nil, nil
	}
	if raw[0] != '[' {
		return nil, fmt.Errorf(`"options" must be an array of strings, got %s`, describe(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf(`"options": %v`, err)
	}
	var opts []decision.Option
	for i, item := range items {
		name := fmt.Sprintf("options[%d]", i)
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
