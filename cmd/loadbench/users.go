package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
)

// decideBody is the request body of Agent's /v1/decide.
type decideBody struct {
	UserID         string         `json:"userId"`
	UserAttributes map[string]any `json:"userAttributes,omitempty"`
}

// userPool holds the users every target is asked about: their IDs and
// attributes. Each target builds its route's request bodies from it once,
// before the run, so the load loop only picks one.
type userPool struct {
	ids   []string
	attrs []map[string]any // nil without --attributes
}

// userID names user i of the pool: the same pool on every run and target.
func userID(i int) string { return fmt.Sprintf("user-%06d", i) }

// newUserPool builds n users. With attrs, each user gets one value of each
// attribute, drawn from a generator seeded with seed, so the pool is the same
// on every run with the same arguments.
func newUserPool(n int, attrs map[string][]any, seed uint64) (*userPool, error) {
	if n <= 0 {
		return nil, fmt.Errorf("user pool of %d users: want at least one", n)
	}
	names := slices.Sorted(maps.Keys(attrs))
	for _, name := range names {
		if len(attrs[name]) == 0 {
			return nil, fmt.Errorf("attribute %q: no values", name)
		}
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed_a771))
	p := &userPool{ids: make([]string, n), attrs: make([]map[string]any, n)}
	for i := range n {
		p.ids[i] = userID(i)
		if len(names) > 0 {
			a := make(map[string]any, len(names))
			for _, name := range names {
				values := attrs[name]
				a[name] = values[rng.IntN(len(values))]
			}
			p.attrs[i] = a
		}
	}
	return p, nil
}

// parseAttributes reads --attributes: a JSON object from attribute name to
// the list of values users are given, e.g. {"plan": ["free", "pro"]}. Values
// must be strings, numbers or booleans, as Optimizely attributes are.
func parseAttributes(s string) (map[string][]any, error) {
	if s == "" {
		return nil, nil
	}
	var attrs map[string][]any
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	if err := dec.Decode(&attrs); err != nil {
		return nil, fmt.Errorf("attributes %q: want a JSON object of arrays: %w", s, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("attributes %q: trailing data after the object", s)
	}
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		values := attrs[name]
		if len(values) == 0 {
			return nil, fmt.Errorf("attribute %q: no values", name)
		}
		for _, v := range values {
			switch v.(type) {
			case string, json.Number, bool:
			default:
				return nil, fmt.Errorf("attribute %q: value %v: want a string, number or boolean", name, v)
			}
		}
	}
	return attrs, nil
}
