package server

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	optclient "github.com/optimizely/go-sdk/v2/pkg/client"
)

// Agent's response types, as its handlers declare them (optimizely/agent
// pkg/handlers and pkg/optimizely at 471fdcd). The decide answer embeds the
// official SDK's OptimizelyDecision.
type agentDecideOut struct {
	optclient.OptimizelyDecision
	Variables               map[string]any `json:"variables,omitempty"`
	IsEveryoneElseVariation bool           `json:"isEveryoneElseVariation"`
}

type agentActivation struct {
	UserID        string         `json:"userId"`
	ExperimentKey string         `json:"experimentKey"`
	FeatureKey    string         `json:"featureKey"`
	VariationKey  string         `json:"variationKey"`
	Type          string         `json:"type"`
	Variables     map[string]any `json:"variables,omitempty"`
	Enabled       bool           `json:"enabled"`
	Error         string         `json:"error,omitempty"`
}

type agentLookup struct {
	UserID              string         `json:"userId"`
	ExperimentBucketMap map[string]any `json:"experimentBucketMap"`
}

type agentError struct {
	Error string `json:"error"`
}

// strictDecode decodes b into v, failing on any field Agent does not send.
func strictDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("answer does not fit Agent's %T: %v\n%s", v, err, b)
	}
}

// sameJSON compares two JSON documents by value.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("answer differs from Agent's encoding of the same values:\n got %s\nwant %s", got, want)
	}
}

// TestAgentContract sends requests shaped as Agent's clients send them and
// checks that the answers have exactly Agent's fields, encode as Agent
// would encode the same values, and carry Agent's status codes.
func TestAgentContract(t *testing.T) {
	s := newTestService(t, v1)
	h := []string{sdkKeyHeader, "k1"}

	one := s.do(t, "POST", "/v1/decide?keys=new_search", alice, h...)
	if one.status != 200 {
		t.Fatalf("decide: %d", one.status)
	}
	var d agentDecideOut
	strictDecode(t, one.body, &d)
	if d.FlagKey != "new_search" || d.UserContext.UserID != "alice" {
		t.Errorf("decide: %+v", d)
	}
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	want, _ := json.Marshal(d)
	sameJSON(t, one.body, want)
	for _, field := range []string{"variationKey", "enabled", "ruleKey", "flagKey", "userContext", "reasons", "isEveryoneElseVariation"} {
		if !bytes.Contains(one.body, []byte(`"`+field+`":`)) {
			t.Errorf("decide answer lacks %q", field)
		}
	}

	many := s.do(t, "POST", "/v1/decide?keys=new_search&keys=dark_mode", alice, h...)
	var ds []agentDecideOut
	strictDecode(t, many.body, &ds)
	if len(ds) != 2 {
		t.Errorf("decide for two keys: %d answers", len(ds))
	}

	act := s.do(t, "POST", "/v1/activate?type=experiment&type=feature&featureKey=nope", alice, h...)
	var as []agentActivation
	strictDecode(t, act.body, &as)
	if len(as) != 6 {
		t.Errorf("activate: %d answers, want 3 experiments, 2 features and the unknown one", len(as))
	}

	s.do(t, "POST", "/v1/save", `{"userId":"erin","experimentBucketMap":{"3001":{"variation_id":"4001"}}}`, h...)
	var l agentLookup
	strictDecode(t, s.do(t, "POST", "/v1/lookup", `{"userId":"erin"}`, h...).body, &l)
	if l.UserID != "erin" || l.ExperimentBucketMap["3001"].(map[string]any)["variation_id"] != "4001" {
		t.Errorf("lookup: %+v", l)
	}

	for _, c := range []struct {
		name, method, path, body string
		header                   []string
		status                   int
	}{
		{"no userId", "POST", "/v1/decide", `{}`, h, 400},
		{"bad JSON", "POST", "/v1/decide", `{"userId"`, h, 400},
		{"wrong content type", "POST", "/v1/decide", alice, append([]string{"Content-Type", "text/plain"}, h...), 415},
		{"override disabled", "POST", "/v1/override", `{"userId":"u","experimentKey":"e","variationKey":"v"}`, h, 403},
		{"lookup no userId", "POST", "/v1/lookup", `{}`, h, 400},
		{"save no userId", "POST", "/v1/save", `{}`, h, 400},
	} {
		r := s.do(t, c.method, c.path, c.body, c.header...)
		if r.status != c.status {
			t.Errorf("%s: status %d, Agent answers %d", c.name, r.status, c.status)
		}
		var e agentError
		strictDecode(t, r.body, &e)
		if strings.TrimSpace(e.Error) == "" {
			t.Errorf("%s: empty error", c.name)
		}
	}
}
