package server

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/events"
)

// sink is a local event endpoint keeping every batch it receives.
type sink struct {
	*httptest.Server
	mu      sync.Mutex
	batches []map[string]any
}

func newSink(t testing.TB) *sink {
	s := &sink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b map[string]any
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.batches = append(s.batches, b)
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(s.Close)
	return s
}

// eventService serves one datafile (examples/datafile-v1.json changed by
// edit) with events sent to a sink.
type eventService struct {
	*testService
	proc *events.Processor
	sink *sink
}

func newEventService(t testing.TB, edit func(df map[string]any)) *eventService {
	t.Helper()
	return newEventServiceWith(t, edit, events.Options{FlushInterval: time.Hour}, "")
}

// newEventServiceWith is newEventService with the processor's options
// and endpoint (url "": a sink of its own).
func newEventServiceWith(t testing.TB, edit func(df map[string]any), opts events.Options, url string) *eventService {
	t.Helper()
	cat, store := eventsCatalog(t, purchaseDatafile(t, edit))
	var sk *sink
	if url == "" {
		sk = newSink(t)
		url = sk.URL
	}
	opts.URL = url
	proc := startProcessor(t, opts)
	h, err := NewAPI(Options{Catalog: cat, Profiles: store, Events: proc})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &eventService{testService: &testService{url: srv.URL, store: store, handler: h}, proc: proc, sink: sk}
}

// sent closes the processor, so every queued event is sent, and returns
// the visitors the sink received, each with its batch's revision.
func (s *eventService) sent(t *testing.T) []map[string]any {
	t.Helper()
	if err := s.proc.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.sink.mu.Lock()
	defer s.sink.mu.Unlock()
	var out []map[string]any
	for _, b := range s.sink.batches {
		for _, v := range b["visitors"].([]any) {
			vm := v.(map[string]any)
			vm["revision"] = b["revision"]
			out = append(out, vm)
		}
	}
	return out
}

// impression returns a visitor's decision metadata and event, or fails.
func impression(t *testing.T, v map[string]any) (decision, metadata, event map[string]any) {
	t.Helper()
	snap := v["snapshots"].([]any)[0].(map[string]any)
	ds, ok := snap["decisions"].([]any)
	if !ok || len(ds) != 1 {
		t.Fatalf("not an impression: %v", v)
	}
	d := ds[0].(map[string]any)
	return d, d["metadata"].(map[string]any), snap["events"].([]any)[0].(map[string]any)
}

func TestDecideSendsImpressions(t *testing.T) {
	s := newEventService(t, nil)
	r := s.do(t, "POST", "/v1/decide?keys=new_search", `{"userId":"alice","userAttributes":{"country":"de","plan":"pro","app_version":"3.2.0","favourite":"blue"}}`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	variation := r.json(t).(map[string]any)["variationKey"]
	// Not sent: DISABLE_DECISION_EVENT; dark_mode is a rollout and the
	// datafile does not set sendFlagDecisions; an unknown key.
	s.do(t, "POST", "/v1/decide?keys=new_search", `{"userId":"bob","decideOptions":["DISABLE_DECISION_EVENT"]}`)
	s.do(t, "POST", "/v1/decide?keys=dark_mode&keys=nope", `{"userId":"carol"}`)
	vs := s.sent(t)
	if len(vs) != 1 {
		t.Fatalf("%d impressions, want 1: %v", len(vs), vs)
	}
	v := vs[0]
	if v["visitor_id"] != "alice" || v["revision"] != "1" {
		t.Errorf("visitor %v", v)
	}
	d, md, ev := impression(t, v)
	if d["campaign_id"] != "9001" || d["experiment_id"] != "3003" || md["flag_key"] != "new_search" || md["rule_key"] != "search_experiment" ||
		md["rule_type"] != "feature-test" || md["variation_key"] != variation || md["enabled"] != true ||
		ev["key"] != "campaign_activated" || ev["entity_id"] != "9001" {
		t.Errorf("impression %v / %v / %v", d, md, ev)
	}
	var keys []string
	for _, a := range v["attributes"].([]any) {
		keys = append(keys, a.(map[string]any)["key"].(string))
	}
	// favourite is not an attribute of the datafile.
	if !slices.Equal(keys, []string{"app_version", "country", "plan", "$opt_bot_filtering"}) {
		t.Errorf("attributes %v", keys)
	}
}

// With sendFlagDecisions, every flag decided sends its impression:
// rollouts, and flags that served nothing (rule type "rollout", no IDs),
// but never a key the datafile does not have. ENABLED_FLAGS_ONLY leaves
// disabled flags out of the answer, not out of the impressions.
func TestDecideSendFlagDecisions(t *testing.T) {
	s := newEventService(t, func(df map[string]any) { df["sendFlagDecisions"] = true })
	r := s.do(t, "POST", "/v1/decide?keys=new_search&keys=dark_mode&keys=nope", `{"userId":"u7","decideOptions":["ENABLED_FLAGS_ONLY"]}`)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	answered := map[string]bool{}
	for _, d := range r.json(t).([]any) {
		dm := d.(map[string]any)
		if dm["enabled"] != true {
			t.Errorf("a disabled flag answered with ENABLED_FLAGS_ONLY: %v", dm)
		}
		answered[dm["flagKey"].(string)] = true
	}
	vs := s.sent(t)
	byFlag := map[string]map[string]any{}
	for _, v := range vs {
		d, md, _ := impression(t, v)
		md["campaign_id"], md["experiment_id"], md["variation_id"] = d["campaign_id"], d["experiment_id"], d["variation_id"]
		byFlag[md["flag_key"].(string)] = md
	}
	if len(vs) != 2 || byFlag["new_search"] == nil || byFlag["dark_mode"] == nil {
		t.Fatalf("impressions %v, want new_search and dark_mode", byFlag)
	}
	dm := byFlag["dark_mode"]
	if dm["rule_type"] != "rollout" {
		t.Errorf("dark_mode: %v", dm)
	}
	if dm["enabled"] == true && (dm["rule_key"] != "everyone_else_dark" || dm["campaign_id"] != "6002" || dm["variation_id"] != "4009") {
		t.Errorf("dark_mode served: %v", dm)
	}
	if dm["enabled"] == false && (dm["rule_key"] != "" || dm["campaign_id"] != "" || dm["variation_id"] != "" || answered["dark_mode"]) {
		t.Errorf("dark_mode not served: %v (answered %v)", dm, answered)
	}
}

func TestActivateSendsImpressions(t *testing.T) {
	s := newEventService(t, nil)
	for _, q := range []string{
		"experimentKey=checkout_button&featureKey=new_search&featureKey=dark_mode&experimentKey=nope",
		"experimentKey=checkout_button&featureKey=new_search&disableTracking=true",
	} {
		if r := s.do(t, "POST", "/v1/activate?"+q, alice); r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
	}
	vs := s.sent(t)
	got := map[string]map[string]any{}
	for _, v := range vs {
		_, md, _ := impression(t, v)
		got[md["rule_key"].(string)] = md
	}
	// checkout_button (an experiment: no flag, enabled), new_search's
	// feature test; not dark_mode (a rollout), not with disableTracking.
	if len(vs) != 2 || got["checkout_button"] == nil || got["search_experiment"] == nil {
		t.Fatalf("impressions %v", got)
	}
	if md := got["checkout_button"]; md["flag_key"] != "" || md["rule_type"] != "experiment" || md["enabled"] != true {
		t.Errorf("experiment impression %v", md)
	}
	if md := got["search_experiment"]; md["flag_key"] != "new_search" || md["rule_type"] != "feature-test" {
		t.Errorf("feature impression %v", md)
	}
}

// /v1/track answers as Agent does, word for word, and queues the
// conversion with its tags, revenue and value.
func TestTrack(t *testing.T) {
	s := newEventService(t, nil)
	for _, c := range []struct {
		query, body string
		status      int
		want        string
	}{
		{"?eventKey=purchase", `{"userId":"matjaz","userAttributes":{"plan":"pro"},"eventTags":{"revenue":1299,"value":12.5,"color":"red"}}`, 200,
			`{"userId":"matjaz","eventKey":"purchase"}` + "\n"},
		{"?eventKey=invalid_event_key", `{"userId":"matjaz","userAttributes":{"attr_1":"hola"},"eventTags":{}}`, 200,
			`{"userId":"matjaz","eventKey":"invalid_event_key","error":"event with key \"invalid_event_key\" not found"}` + "\n"},
		{"?eventKey=", `{"userId":"matjaz"}`, 400, `{"error":"missing required path parameter: eventKey"}` + "\n"},
		{"", ``, 400, `{"error":"missing required path parameter: eventKey"}` + "\n"},
		{"?eventKey=purchase", ``, 400, `{"error":"missing \"userId\" in request payload"}` + "\n"},
		{"?eventKey=purchase", `{"userId":`, 400, ""},
		{"?eventKey=purchase", `{"userId":"u","eventTags":[1]}`, 400, ""},
	} {
		r := s.do(t, "POST", "/v1/track"+c.query, c.body)
		if r.status != c.status || (c.want != "" && string(r.body) != c.want) {
			t.Errorf("track%s %s: %d %s, want %d %s", c.query, c.body, r.status, r.body, c.status, c.want)
		}
	}
	vs := s.sent(t)
	if len(vs) != 1 {
		t.Fatalf("%d events, want 1: %v", len(vs), vs)
	}
	snap := vs[0]["snapshots"].([]any)[0].(map[string]any)
	if _, ok := snap["decisions"]; ok {
		t.Errorf("a conversion with decisions: %v", snap)
	}
	ev := snap["events"].([]any)[0].(map[string]any)
	tags, _ := json.Marshal(ev["tags"])
	if ev["entity_id"] != "5001" || ev["key"] != "purchase" || ev["revenue"] != 1299.0 || ev["value"] != 12.5 ||
		string(tags) != `{"color":"red","revenue":1299,"value":12.5}` {
		t.Errorf("conversion %v", ev)
	}
	if vs[0]["visitor_id"] != "matjaz" || !strings.Contains(func() string { b, _ := json.Marshal(vs[0]["attributes"]); return string(b) }(), `"key":"plan"`) {
		t.Errorf("visitor %v", vs[0])
	}
}

// Without a processor the routes answer the same and nothing is sent.
func TestNoEventsWithoutProcessor(t *testing.T) {
	s := newTestService(t, v1)
	if r := s.do(t, "POST", "/v1/track?eventKey=purchase", alice); r.status != 200 || !strings.Contains(string(r.body), "not found") {
		t.Errorf("track: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice); r.status != 200 {
		t.Errorf("decide: %d %s", r.status, r.body)
	}
}
