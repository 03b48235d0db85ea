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
	a, err := newUserPool(100, attrs, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newUserPool(100, attrs, 7)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newUserPool(100, attrs, 8)
	if err != nil {
		t.Fatal(err)
	}
	differs := false
	seenPlans := map[string]bool{}
	for i := range a.bodies {
		if !bytes.Equal(a.bodies[i], b.bodies[i]) {
			t.Fatalf("user %d: %s and %s with the same seed", i, a.bodies[i], b.bodies[i])
		}
		differs = differs || !bytes.Equal(a.bodies[i], c.bodies[i])
		var body struct {
			UserID         string         `json:"userId"`
			UserAttributes map[string]any `json:"userAttributes"`
		}
		if err := json.Unmarshal(a.bodies[i], &body); err != nil {
			t.Fatalf("user %d: body %s: %v", i, a.bodies[i], err)
		}
		if body.UserID != userID(i) || len(body.UserAttributes) != 4 {
			t.Fatalf("user %d: body %s", i, a.bodies[i])
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
	if got, want := string(p.bodies[2]), `{"userId":"user-000002"}`; got != want {
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
