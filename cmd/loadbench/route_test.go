package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRouteBodies(t *testing.T) {
	attrs, err := parseAttributes(`{"plan": ["pro"]}`)
	if err != nil {
		t.Fatal(err)
	}
	pool, err := newUserPool(3, attrs, 1)
	if err != nil {
		t.Fatal(err)
	}
	profile, err := parseSaveProfile(`{ "3001": {"variation_id": "4002"} }`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		route Route
		path  string
		body  string
	}{
		{"", "/v1/decide?keys=new_search", `{"userId":"user-000002","userAttributes":{"plan":"pro"}}`},
		{RouteDecide, "/v1/decide?keys=new_search", `{"userId":"user-000002","userAttributes":{"plan":"pro"}}`},
		{RouteLookup, "/v1/lookup", `{"userId":"user-000002"}`},
		{RouteUPSLookup, "/v1/ups/lookup", `{"user_id":"user-000002"}`},
		{RouteUPSSave, "/v1/ups/save", `{"user_id":"user-000002","experiment_bucket_map":{"3001":{"variation_id":"4002"}}}`},
	} {
		bodies, err := tt.route.bodies(pool, profile)
		if err != nil {
			t.Fatal(err)
		}
		if len(bodies) != 3 || string(bodies[2]) != tt.body {
			t.Errorf("route %q: body of user 2 %s, want %s", tt.route, bodies[2], tt.body)
		}
		if got := tt.route.path("new_search"); got != tt.path {
			t.Errorf("route %q: path %s, want %s", tt.route, got, tt.path)
		}
	}
	b, err := RouteUPSSave.body(pool, 0, nil)
	if err != nil || string(b) != `{"user_id":"user-000000","experiment_bucket_map":`+DefaultSaveProfile+`}` {
		t.Errorf("save body without a profile %s, %v; want the default profile", b, err)
	}
}

func TestParseRouteAndSaveProfile(t *testing.T) {
	for _, s := range []string{"decide", "lookup", "ups-lookup", "ups-save"} {
		if r, err := parseRoute(s); err != nil || string(r) != s {
			t.Errorf("parseRoute(%q) = %q, %v", s, r, err)
		}
	}
	if _, err := parseRoute("save"); err == nil || !strings.Contains(err.Error(), "ups-save") {
		t.Errorf("parseRoute(save): %v, want the list of routes", err)
	}
	for in, want := range map[string]string{
		`[]`:                                "JSON object",
		`{}`:                                "no experiment",
		`{"3001": {}}`:                      "variation_id",
		`{"3001": {"variation_id": ""}}`:    "variation_id",
		`{"3001": {"variationId": "4"}}`:    "unknown field",
		`{"3001": {"variation_id": "4"}} 1`: "trailing",
	} {
		if _, err := parseSaveProfile(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseSaveProfile(%s): %v, want an error mentioning %q", in, err, want)
		}
	}
}

func TestCheckerRejects(t *testing.T) {
	for _, tt := range []struct {
		route Route
		body  string
		want  string // "" for OK, then label is the label
		label string
	}{
		{RouteDecide, `{"flagKey":"f","variationKey":"on"}`, "", "on"},
		{RouteDecide, `{"flagKey":"g","variationKey":"on"}`, "flagKey", ""},
		{RouteDecide, `{"flagKey":`, "does not parse", ""},
		{RouteLookup, `{"userId":"u","experimentBucketMap":{}}`, "", "entries:0"},
		{RouteLookup, `{"userId":"u","experimentBucketMap":{"1":{"variation_id":"2"},"3":{"variation_id":"4"}}}`, "", "entries:2"},
		{RouteLookup, `{"userId":"v","experimentBucketMap":{}}`, `userId "v"`, ""},
		{RouteLookup, `{"userId":"u"}`, "no experimentBucketMap", ""},
		{RouteLookup, `{"userId":"u","experimentBucketMap":null}`, "no experimentBucketMap", ""},
		{RouteLookup, `{"user_id":"u","experiment_bucket_map":{}}`, "userId", ""},
		{RouteUPSLookup, `{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":"2"}}}`, "", "entries:1"},
		{RouteUPSLookup, `{"user_id":"u"}`, "no experiment_bucket_map", ""},
		{RouteUPSLookup, `{"user_id":"x","experiment_bucket_map":{}}`, `user_id "x"`, ""},
		{RouteUPSLookup, `[]`, "does not parse", ""},
		{RouteUPSSave, `{"written":1,"unchanged":0,"lost":0}`, "", "written:1 unchanged:0 lost:0"},
		{RouteUPSSave, `{"written":0,"unchanged":1}`, "lacks", ""},
		{RouteUPSSave, ``, "does not parse", ""},
	} {
		c := newChecker(tt.route, "f")
		label, problem := c.check([]byte(tt.body), "u")
		if tt.want == "" && (problem != "" || label != tt.label) {
			t.Errorf("%s %s: label %q, problem %q; want label %q", tt.route, tt.body, label, problem, tt.label)
		}
		if tt.want != "" && !strings.Contains(problem, tt.want) {
			t.Errorf("%s %s: problem %q, want one mentioning %q", tt.route, tt.body, problem, tt.want)
		}
	}
}

// profileServer stands in for a service with Agent's lookup and
// stickybucket's /v1/ups routes over one in-memory profile store: a saved
// profile is what lookups find.
type profileServer struct {
	t *testing.T
	// fault picks what to do for a route and user: "" answers normally.
	fault func(path, userID string) string

	mu       sync.Mutex
	profiles map[string]map[string]string
	byPath   map[string]int
	rejected atomic.Int64
}

func (s *profileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body struct {
		UserID    string                       `json:"userId"`
		SDKUserID string                       `json:"user_id"`
		Map       map[string]map[string]string `json:"experiment_bucket_map"`
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(raw, &body) != nil {
		s.rejected.Add(1)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	user := body.UserID
	if r.URL.Path != "/v1/lookup" {
		user = body.SDKUserID
	}
	if user == "" || (r.URL.Path == "/v1/lookup" && r.Header.Get("X-Optimizely-SDK-Key") == "") {
		s.rejected.Add(1)
		http.Error(w, "no user or SDK key", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.profiles == nil {
		s.profiles, s.byPath = map[string]map[string]string{}, map[string]int{}
	}
	s.byPath[r.URL.Path]++
	fault := ""
	if s.fault != nil {
		fault = s.fault(r.URL.Path, user)
	}
	var answer any
	switch r.URL.Path {
	case "/v1/ups/save":
		p := s.profiles[user]
		if p == nil {
			p = map[string]string{}
			s.profiles[user] = p
		}
		written, unchanged := 0, 0
		for exp, e := range body.Map {
			if p[exp] == e["variation_id"] {
				unchanged++
			} else {
				p[exp] = e["variation_id"]
				written++
			}
		}
		answer = map[string]int{"written": written, "unchanged": unchanged, "lost": 0}
		if fault == "nocounts" {
			answer = map[string]int{"written": written}
		}
	case "/v1/lookup", "/v1/ups/lookup":
		m := map[string]any{}
		for exp, v := range s.profiles[user] {
			m[exp] = map[string]string{"variation_id": v}
		}
		if fault == "otheruser" {
			user = "someone-else"
		}
		if r.URL.Path == "/v1/lookup" {
			answer = map[string]any{"userId": user, "experimentBucketMap": m}
		} else {
			answer = map[string]any{"user_id": user, "experiment_bucket_map": m}
		}
	default:
		s.mu.Unlock()
		s.rejected.Add(1)
		http.NotFound(w, r)
		return
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(answer)
}

func startProfileServer(t *testing.T, s *profileServer) *url.URL {
	t.Helper()
	s.t = t
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Three targets on one server, measured in turn: saves, then lookups in
// both schemas that find what was saved.
func TestRunRoutesSideBySide(t *testing.T) {
	srv := &profileServer{}
	u := startProfileServer(t, srv)
	cfg := testConfig(
		Target{Name: "save", URL: u, Route: RouteUPSSave},
		Target{Name: "lookup", URL: u, Route: RouteLookup},
		Target{Name: "ups-lookup", URL: u, Route: RouteUPSLookup},
	)
	cfg.Flag = "" // no decide route: no flag needed
	cfg.Users = 10
	cfg.Rounds = 2
	cfg.MaxRequests = 200
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.rejected.Load(); n != 0 {
		t.Fatalf("server rejected %d requests", n)
	}
	if got := rep.Setup.Routes; got["save"] != "POST /v1/ups/save" || got["lookup"] != "POST /v1/lookup" ||
		got["ups-lookup"] != "POST /v1/ups/lookup" || rep.Setup.Route != "per target" ||
		string(rep.Setup.SaveProfile) != DefaultSaveProfile {
		t.Errorf("setup routes %v, route %q, save profile %s", got, rep.Setup.Route, rep.Setup.SaveProfile)
	}
	byName := map[string]TargetReport{}
	for _, tr := range rep.Targets {
		byName[tr.Name] = tr
		if tr.OK != 400 || tr.Requests != 400 {
			t.Errorf("target %s: ok %d of %d, want 400", tr.Name, tr.OK, tr.Requests)
		}
	}
	if r := byName["save"]; r.Route != "ups-save" || !strings.HasSuffix(r.URL, "/v1/ups/save") {
		t.Errorf("save target: route %q, URL %s", r.Route, r.URL)
	}
	// The first save of each of the 10 users wrote; every later one found
	// the profile unchanged.
	if v := byName["save"].Variations; v["written:0 unchanged:1 lost:0"] < 390 ||
		v["written:0 unchanged:1 lost:0"]+v["written:1 unchanged:0 lost:0"] != 400 {
		t.Errorf("save answers %v", v)
	}
	// Lookups come after the saves of the first round: every profile
	// found holds the saved entry.
	for _, name := range []string{"lookup", "ups-lookup"} {
		if v := byName[name].Variations; v["entries:1"] != 400 {
			t.Errorf("%s answers %v, want 400 profiles of one entry", name, v)
		}
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for path, n := range srv.byPath {
		if n != 401 {
			t.Errorf("%s: %d requests, want the probe and 2 rounds of 200", path, n)
		}
	}
	if p := srv.profiles["user-000003"]; p["3003"] != "4005" {
		t.Errorf("user 3's saved profile %v, want the default save profile", p)
	}
}

func TestRunCountsBadProfileAnswers(t *testing.T) {
	srv := &profileServer{fault: func(path, user string) string {
		switch {
		case user == userID(0):
			return "" // the probe passes
		case path == "/v1/ups/save" && strings.HasSuffix(user, "3"):
			return "nocounts"
		case path != "/v1/ups/save" && strings.HasSuffix(user, "4"):
			return "otheruser"
		}
		return ""
	}}
	u := startProfileServer(t, srv)
	for _, route := range []Route{RouteUPSSave, RouteLookup, RouteUPSLookup} {
		cfg := testConfig(Target{Name: string(route), URL: u, Route: route})
		cfg.Rounds = 1
		cfg.MaxRequests = 300
		rep, err := Run(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		tr := rep.Targets[0]
		if tr.BadResponses == 0 || tr.OK+tr.BadResponses != 300 || len(tr.ErrorSamples) == 0 {
			t.Errorf("%s: ok %d, bad %d, samples %q: want some bad answers counted", route, tr.OK, tr.BadResponses, tr.ErrorSamples)
		}
		want := "lacks written"
		if route != RouteUPSSave {
			want = `"someone-else"`
		}
		if !strings.Contains(fmt.Sprint(tr.ErrorSamples), want) {
			t.Errorf("%s: samples %q, want one mentioning %s", route, tr.ErrorSamples, want)
		}
	}
}
