package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestUserPoolIsDeterministic(t *testing.T) {
	attrs, err := parseAttributes(`{"plan": ["free", "pro"], "country": ["de", "fr", "us"], "beta": [true, false], "age": [30, 41.5]}`)
	if err != nil {
		t.Fatal(err)
	}
	bodies := func(seed uint64) [][]byte {
		t.Helper()
		p, err := newUserPool(100, attrs, seed)
		if err != nil {
			t.Fatal(err)
		}
		b, err := RouteDecide.bodies(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := bodies(7), bodies(7), bodies(8)
	differs := false
	seenPlans := map[string]bool{}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("user %d: %s and %s with the same seed", i, a[i], b[i])
		}
		differs = differs || !bytes.Equal(a[i], c[i])
		var body struct {
			UserID         string         `json:"userId"`
			UserAttributes map[string]any `json:"userAttributes"`
		}
		if err := json.Unmarshal(a[i], &body); err != nil {
			t.Fatalf("user %d: body %s: %v", i, a[i], err)
		}
		if body.UserID != userID(i) || len(body.UserAttributes) != 4 {
			t.Fatalf("user %d: body %s", i, a[i])
		}
		seenPlans[body.UserAttributes["plan"].(string)] = true
		if age := body.UserAttributes["age"].(float64); age != 30 && age != 41.5 {
			t.Errorf("user %d: age %v, want a number from the list", i, age)
		}
	}
	if !differs {
		t.Error("another seed gave the same attributes to every user")
	}
	if len(seenPlans) != 2 {
		t.Errorf("plans %v: want both values used", seenPlans)
	}
}

func TestUserPoolWithoutAttributes(t *testing.T) {
	p, err := newUserPool(3, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := RouteDecide.body(p, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(b), `{"userId":"user-000002"}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	if _, err := newUserPool(0, nil, 1); err == nil {
		t.Error("a pool of 0 users: no error")
	}
}

func TestParseAttributesRejects(t *testing.T) {
	for in, want := range map[string]string{
		`[1]`:                 "JSON object",
		`{"a": "x"}`:          "JSON object",
		`{"a": []}`:           "no values",
		`{"a": [{"b": 1}]}`:   "string, number or boolean",
		`{"a": [null]}`:       "string, number or boolean",
		`{"a": ["x"]} {}`:     "trailing",
		`{"a": ["x"], "b": 1`: "JSON object",
	} {
		_, err := parseAttributes(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseAttributes(%s) error %v, want one mentioning %q", in, err, want)
		}
	}
	if attrs, err := parseAttributes(""); err != nil || attrs != nil {
		t.Errorf("parseAttributes(\"\") = %v, %v; want nothing", attrs, err)
	}
}
