package server

import (
	"context"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// newOverrideService is newTestService's datafile v1 with overrides on.
func newOverrideService(t *testing.T, tokens ...string) *testService {
	t.Helper()
	store, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	overrides, err := ups.NewMemoryOverrides(ups.MemoryOverridesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(v1["k1"])
	if err != nil {
		t.Fatal(err)
	}
	d := testDatafile(t, "k1", raw, decision.Options{Profiles: store, Overrides: overrides})
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewTokens(tokens...)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewAPI(Options{Catalog: catalog{"k1": d}, Profiles: store, Tokens: tok, Metrics: m, MaxBodyBytes: 4500})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testService{url: srv.URL, store: store, handler: h}
}

// TestOverrideAgentAnswers: the answers of Agent's acceptance test
// test_overrides__invalid_arguments, byte for byte, and the messages of
// a replaced and a removed override.
func TestOverrideAgentAnswers(t *testing.T) {
	s := newOverrideService(t)
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"empty userId", `{"userId":"","experimentKey":"checkout_button","variationKey":"green"}`, 400, `{"error":"userId cannot be empty"}` + "\n"},
		{"no body", ``, 400, `{"error":"userId cannot be empty"}` + "\n"},
		{"empty experimentKey", `{"userId":"matjaz","experimentKey":"","variationKey":"green"}`, 400, `{"error":"experimentKey cannot be empty"}` + "\n"},
		{"empty variationKey removes", `{"userId":"matjaz","experimentKey":"checkout_button","variationKey":""}`, 200,
			`{"userId":"matjaz","experimentKey":"checkout_button","variationKey":"","prevVariationKey":"","messages":["no pre-existing override"]}` + "\n"},
		{"set", `{"userId":"invalid_user","experimentKey":"checkout_button","variationKey":"green"}`, 200,
			`{"userId":"invalid_user","experimentKey":"checkout_button","variationKey":"green","prevVariationKey":"","messages":null}` + "\n"},
		{"unknown experiment, kept", `{"userId":"matjaz","experimentKey":"invalid_experimentKey","variationKey":"green"}`, 200,
			`{"userId":"matjaz","experimentKey":"invalid_experimentKey","variationKey":"green","prevVariationKey":"","messages":["experimentKey not found in configuration"]}` + "\n"},
		{"unknown variation, kept", `{"userId":"matjaz","experimentKey":"checkout_button","variationKey":"invalid_variation"}`, 200,
			`{"userId":"matjaz","experimentKey":"checkout_button","variationKey":"invalid_variation","prevVariationKey":"","messages":["variationKey not found in configuration"]}` + "\n"},
		{"replaced", `{"userId":"matjaz","experimentKey":"checkout_button","variationKey":"green"}`, 200,
			`{"userId":"matjaz","experimentKey":"checkout_button","variationKey":"green","prevVariationKey":"invalid_variation","messages":["updating previous override"]}` + "\n"},
		{"removed", `{"userId":"matjaz","experimentKey":"checkout_button","variationKey":""}`, 200,
			`{"userId":"matjaz","experimentKey":"checkout_button","variationKey":"","prevVariationKey":"green","messages":["removing previous override"]}` + "\n"},
		{"not JSON", `{"userId":`, 400, ""},
		{"a key too long for the store", `{"userId":"u","experimentKey":"checkout_button","variationKey":"` + string(make([]byte, 300)) + `"}`, 400, ""},
	} {
		r := s.do(t, "POST", "/v1/override", tc.body)
		if r.status != tc.status || (tc.want != "" && string(r.body) != tc.want) {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.want)
		}
	}
}

// TestOverrideDecisions: as Agent's test_overrides, an override changes
// what activate serves and its removal brings back the sticky variation,
// which the override never replaced in the profile.
func TestOverrideDecisions(t *testing.T) {
	s := newOverrideService(t, "override-token-0123456789")
	auth := []string{"Authorization", "Bearer override-token-0123456789"}
	if r := s.do(t, "POST", "/v1/override", `{"userId":"x","experimentKey":"checkout_button","variationKey":"green"}`); r.status != 401 {
		t.Fatalf("without a token: %d %s", r.status, r.body)
	}
	activate := func() string {
		t.Helper()
		r := s.do(t, "POST", "/v1/activate?experimentKey=checkout_button", `{"userId":"matjaz"}`, auth...)
		if r.status != 200 {
			t.Fatalf("activate: %d %s", r.status, r.body)
		}
		return r.json(t).([]any)[0].(map[string]any)["variationKey"].(string)
	}
	sticky := activate()
	other := map[string]string{"control": "green", "green": "control"}[sticky]
	saved := func() string {
		p, err := s.store.Lookup(context.Background(), "matjaz")
		if err != nil {
			t.Fatal(err)
		}
		return p.Assignments["3001"].VariationID
	}
	stickyID := saved()
	if other == "" || stickyID == "" {
		t.Fatalf("first activation: %q, saved %q", sticky, stickyID)
	}
	if r := s.do(t, "POST", "/v1/override", `{"userId":"matjaz","experimentKey":"checkout_button","variationKey":"`+other+`"}`, auth...); r.status != 200 {
		t.Fatalf("override: %d %s", r.status, r.body)
	}
	if got := activate(); got != other {
		t.Fatalf("with the override: %q, want %q", got, other)
	}
	if got := saved(); got != stickyID {
		t.Fatalf("the override replaced the saved assignment: %q, was %q", got, stickyID)
	}
	if r := s.do(t, "POST", "/v1/override", `{"userId":"matjaz","experimentKey":"checkout_button","variationKey":""}`, auth...); r.status != 200 {
		t.Fatalf("removal: %d %s", r.status, r.body)
	}
	if got := activate(); got != sticky {
		t.Fatalf("after removal: %q, want the sticky %q", got, sticky)
	}
}
