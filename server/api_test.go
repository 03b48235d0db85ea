package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// catalog is a fixed Catalog over the sample datafiles.
type catalog map[string]Datafile

func (c catalog) Datafile(sdkKey string) (Datafile, error) {
	if sdkKey == "" {
		if len(c) != 1 {
			return Datafile{}, ErrSDKKeyRequired
		}
		for _, d := range c {
			return d, nil
		}
	}
	d, ok := c[sdkKey]
	if !ok {
		return Datafile{}, fmt.Errorf("SDK key %q: %w", sdkKey, ErrUnknownSDKKey)
	}
	return d, nil
}

type testService struct {
	url     string
	store   *ups.Memory
	reg     *prometheus.Registry
	handler http.Handler
}

func newTestService(t *testing.T, keys map[string]string, tokens ...string) *testService {
	t.Helper()
	tok, err := NewTokens(tokens...)
	if err != nil {
		t.Fatal(err)
	}
	return newTestServiceWith(t, keys, Options{Tokens: tok})
}

// newTestServiceWith serves the datafiles at keys with opts (its Catalog,
// Profiles, Metrics and MaxBodyBytes set here); with opts.Tracer the
// profiles are traced (ups.Traced) as stack stacks them.
// testDatafile serves raw as sdkKey, deciding with a client built from
// opts (whose Datafile is raw's).
func testDatafile(t testing.TB, sdkKey string, raw []byte, opts decision.Options) Datafile {
	t.Helper()
	df, err := decision.ParseDatafile(raw)
	if err != nil {
		t.Fatal(err)
	}
	opts.Datafile = df
	c, err := decision.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return Datafile{SDKKey: sdkKey, Client: c, Raw: raw}
}

func newTestServiceWith(t *testing.T, keys map[string]string, opts Options) *testService {
	t.Helper()
	store, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var profiles ups.Service = store
	if opts.Tracer != nil {
		if profiles, err = ups.NewTraced(store, ups.TracedOptions{Tracer: opts.Tracer}); err != nil {
			t.Fatal(err)
		}
	}
	cat := catalog{}
	for key, path := range keys {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		cat[key] = testDatafile(t, key, raw, decision.Options{Profiles: profiles})
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	opts.Catalog, opts.Profiles, opts.Metrics, opts.MaxBodyBytes = cat, profiles, m, 4500
	h, err := NewAPI(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testService{url: srv.URL, store: store, reg: reg, handler: h}
}

var v1 = map[string]string{"k1": "../examples/datafile-v1.json"}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response %d is not JSON: %v: %s", r.status, err, r.body)
	}
	return v
}

func (s *testService) do(t *testing.T, method, path, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
		} else {
			req.Header.Set(header[i], header[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

const alice = `{"userId":"alice","userAttributes":{"country":"de","plan":"pro","app_version":"3.2.0"}}`

func TestDecideOneKeyIsAnObject(t *testing.T) {
	s := newTestService(t, v1)
	r := s.do(t, "POST", "/v1/decide?keys=new_search", alice)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	d, ok := r.json(t).(map[string]any)
	if !ok {
		t.Fatalf("one key: %s, want an object", r.body)
	}
	if d["flagKey"] != "new_search" || d["variationKey"] == "" || d["ruleKey"] != "search_experiment" {
		t.Errorf("decision %s", r.body)
	}
	uc := d["userContext"].(map[string]any)
	if uc["userId"] != "alice" || uc["attributes"].(map[string]any)["plan"] != "pro" {
		t.Errorf("userContext %v", uc)
	}
	// Sticky: the store holds alice's assignment, and a second call agrees.
	if p, _ := s.store.Lookup(context.Background(), "alice"); p.Empty() {
		t.Error("no assignment saved")
	}
	if again := s.do(t, "POST", "/v1/decide?keys=new_search", alice); !bytes.Equal(again.body, r.body) {
		t.Errorf("second decision differs:\n%s\n%s", r.body, again.body)
	}
}

// TestFieldNamesAreExact: a body's fields are read under Agent's names
// only; another spelling of userAttributes or decideOptions is an unknown
// field, ignored as Agent ignores unknown fields.
func TestFieldNamesAreExact(t *testing.T) {
	s := newTestService(t, v1)
	for _, body := range []string{
		`{"userId":"alice","userattributes":{"plan":"pro"},"decideoptions":["EXCLUDE_VARIABLES"]}`,
		`{"userId":"alice","user_attributes":{"plan":"pro"},"Decide_Options":["EXCLUDE_VARIABLES"]}`,
	} {
		r := s.do(t, "POST", "/v1/decide?keys=new_search", body)
		d, _ := r.json(t).(map[string]any)
		uc, _ := d["userContext"].(map[string]any)
		if r.status != 200 || len(uc["attributes"].(map[string]any)) != 0 || d["variables"] == nil {
			t.Errorf("%s: %d %s; want the attributes and options left out", body, r.status, r.body)
		}
	}
}

func TestDecideNoneOrSeveralKeysIsAnArray(t *testing.T) {
	s := newTestService(t, v1)
	all := s.do(t, "POST", "/v1/decide", alice).json(t).([]any)
	if len(all) != 2 {
		t.Errorf("no keys: %d decisions, want every flag (2)", len(all))
	}
	two := s.do(t, "POST", "/v1/decide?keys=dark_mode&keys=new_search&keys=dark_mode", alice).json(t).([]any)
	if len(two) != 2 || two[0].(map[string]any)["flagKey"] != "dark_mode" || two[1].(map[string]any)["flagKey"] != "new_search" {
		t.Errorf("two keys: %v, want dark_mode then new_search once each", two)
	}
	unknown := s.do(t, "POST", "/v1/decide?keys=nope", alice).json(t).(map[string]any)
	if unknown["enabled"] != false || unknown["variationKey"] != "" || len(unknown["reasons"].([]any)) != 1 {
		t.Errorf("unknown key: %v, want a disabled decision with a reason, as Agent answers", unknown)
	}
}

func TestDecideOptions(t *testing.T) {
	s := newTestService(t, v1)
	r := s.do(t, "POST", "/v1/decide?keys=new_search", `{"userId":"bob","decideOptions":["IGNORE_USER_PROFILE_SERVICE","INCLUDE_REASONS","EXCLUDE_VARIABLES"]}`)
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	d := r.json(t).(map[string]any)
	if _, has := d["variables"]; has {
		t.Error("EXCLUDE_VARIABLES: variables present")
	}
	if len(d["reasons"].([]any)) == 0 {
		t.Error("INCLUDE_REASONS: no reasons")
	}
	if p, _ := s.store.Lookup(context.Background(), "bob"); !p.Empty() {
		t.Errorf("IGNORE_USER_PROFILE_SERVICE saved %v", p.Assignments)
	}
	peek := s.do(t, "POST", "/v1/decide?keys=new_search", `{"userId":"carol","decideOptions":["PEEK_USER_PROFILE_SERVICE"]}`)
	if peek.status != 200 {
		t.Fatalf("peek: %d %s", peek.status, peek.body)
	}
	if p, _ := s.store.Lookup(context.Background(), "carol"); !p.Empty() {
		t.Errorf("PEEK_USER_PROFILE_SERVICE saved %v", p.Assignments)
	}
}

func TestBadInput(t *testing.T) {
	s := newTestService(t, v1)
	big := `{"userId":"` + strings.Repeat("x", 5000) + `"}` // over the test's 4,500-byte limit
	tests := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		want                     string
	}{
		{"malformed JSON", "POST", "/v1/decide?keys=new_search", `{"userId":`, nil, 400, "error parsing request body"},
		{"not an object", "POST", "/v1/decide", `[1,2]`, nil, 400, "error parsing request body"},
		{"no userId", "POST", "/v1/decide", `{"userAttributes":{}}`, nil, 400, `missing "userId" in request payload`},
		{"empty body", "POST", "/v1/decide", ``, nil, 400, `missing "userId"`},
		{"attributes not an object", "POST", "/v1/decide", `{"userId":"u","userAttributes":[1]}`, nil, 400, `"userAttributes" must be an object`},
		{"number too big", "POST", "/v1/decide", `{"userId":"u","userAttributes":{"n":1e400}}`, nil, 400, `"userAttributes.n": number 1e400 is out of range`},
		{"long number cut", "POST", "/v1/decide", `{"userId":"u","userAttributes":{"n":` + strings.Repeat("9", 3000) + `}}`, nil, 400, "…(3000 bytes) is out of range"},
		{"unknown option", "POST", "/v1/decide", `{"userId":"u","decideOptions":["FAST"]}`, nil, 400, `"FAST" is not a decide option`},
		{"forced decisions not a list", "POST", "/v1/decide", `{"userId":"u","forcedDecisions":{"flagKey":"f"}}`, nil, 400, `"forcedDecisions" must be an array`},
		{"forced decision key not a string", "POST", "/v1/decide", `{"userId":"u","forcedDecisions":[{"flagKey":7}]}`, nil, 400, "error parsing request body"},
		{"too many forced decisions", "POST", "/v1/decide", `{"userId":"u","forcedDecisions":[` + strings.Repeat(`{},`, decision.MaxForcedDecisions) + `{}]}`, nil, 400, "forcedDecisions: 101 entries, over the limit of 100"},
		{"invalid UTF-8", "POST", "/v1/decide", "{\"userId\":\"\xff\xfe\"}", nil, 400, "not valid UTF-8"},
		{"oversized body", "POST", "/v1/decide", big, nil, 413, "limit"},
		{"wrong content type", "POST", "/v1/decide", alice, []string{"Content-Type", "text/plain"}, 415, "Content-Type must be application/json"},
		{"no content type", "POST", "/v1/decide", alice, []string{"Content-Type", ""}, 415, "Content-Type must be application/json"},
		{"unknown SDK key", "POST", "/v1/decide", alice, []string{sdkKeyHeader, "nope"}, 403, "unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden"},
		{"wrong method", "GET", "/v1/decide", "", nil, 405, "not allowed"},
		{"unknown route", "GET", "/v2/decide", "", nil, 404, "no such route"},
		{"track without eventKey", "POST", "/v1/track", alice, nil, 400, "missing required path parameter: eventKey"},
		{"track wrong method", "GET", "/v1/track", "", nil, 405, "not allowed"},
		{"send-odp-event", "POST", "/v1/send-odp-event", alice, nil, 404, "no ODP integration"},
		{"override", "POST", "/v1/override", alice, nil, 403, "overrides are disabled"},
		{"override with an unknown SDK key", "POST", "/v1/override", alice, []string{sdkKeyHeader, "nope"}, 403, "unable to fetch fresh datafile (consider rechecking SDK key), status code: 403 Forbidden"},
		{"activate bad type", "POST", "/v1/activate?type=thing", alice, nil, 400, `type "thing" not supported`},
		{"save bad entry", "POST", "/v1/save", `{"userId":"u","experimentBucketMap":{"1":{"variation_id":7}}}`, nil, 400, `experimentBucketMap["1"]`},
		{"save bad profile", "POST", "/v1/save", `{"userId":"u","experimentBucketMap":{"1":{"variation_id":""}}}`, nil, 400, "variation_id is empty"},
		{"lookup no userId", "POST", "/v1/lookup", `{}`, nil, 400, `missing "userId"`},
		// Field names are Agent's, matched exactly: no other spelling
		// is taken for one.
		{"user_id for userId", "POST", "/v1/decide", `{"user_id":"u"}`, nil, 400, `missing "userId"`},
		{"userid for userId", "POST", "/v1/decide", `{"userid":"u"}`, nil, 400, `missing "userId"`},
		{"USERID for userId", "POST", "/v1/activate?experimentKey=checkout_button", `{"USERID":"u"}`, nil, 400, `missing "userId"`},
		{"user-id for userId", "POST", "/v1/lookup", `{"user-id":"u"}`, nil, 400, `missing "userId"`},
		{"UserId for userId", "POST", "/v1/save", `{"UserId":"u","experimentBucketMap":{}}`, nil, 400, `missing "userId"`},
		{"profile ID too long", "GET", "/v1/profiles/" + strings.Repeat("u", 600), "", nil, 400, "the limit is 512"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, tt.body, tt.header...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			e, ok := r.json(t).(map[string]any)
			if !ok || !strings.Contains(fmt.Sprint(e["error"]), tt.want) {
				t.Fatalf("body %s, want {\"error\": …%s…}", r.body, tt.want)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestSDKKeys(t *testing.T) {
	s := newTestService(t, map[string]string{"k1": "../examples/datafile-v1.json", "k2": "../examples/datafile-v2.json"})
	if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice); r.status != 400 || !strings.Contains(string(r.body), sdkKeyHeader) {
		t.Errorf("two datafiles, no key: %d %s; want 400 naming the header", r.status, r.body)
	}
	for _, k := range []string{"k1", "k2"} {
		r := s.do(t, "GET", "/v1/config", "", sdkKeyHeader, k)
		if r.status != 200 {
			t.Fatalf("config %s: %d %s", k, r.status, r.body)
		}
		c := r.json(t).(map[string]any)
		if c["sdkKey"] != k || c["revision"] == "" {
			t.Errorf("config for %s: sdkKey %v revision %v", k, c["sdkKey"], c["revision"])
		}
	}
	raw, _ := os.ReadFile("../examples/datafile-v2.json")
	if r := s.do(t, "GET", "/v1/datafile", "", sdkKeyHeader, "k2"); r.status != 200 || !bytes.Equal(r.body, raw) {
		t.Errorf("datafile k2: %d, %d bytes, want the file as loaded", r.status, len(r.body))
	}
}

func TestTokens(t *testing.T) {
	const tok = "0123456789abcdef-secret"
	s := newTestService(t, v1, tok)
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong-token-0123456789"}, {"Authorization", tok}} {
		r := s.do(t, "POST", "/v1/decide?keys=new_search", alice, h...)
		if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("header %v: %d %s, want 401 with WWW-Authenticate", h, r.status, r.body)
		}
	}
	if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice, "Authorization", "Bearer "+tok); r.status != 200 {
		t.Errorf("right token: %d %s", r.status, r.body)
	}
	if r := s.do(t, "GET", "/health", ""); r.status != 200 {
		t.Errorf("/health needs no token: %d", r.status)
	}
	if _, err := NewTokens("short"); err == nil {
		t.Error("a 5-byte token was accepted")
	}
	hashed, err := NewTokens("sha256:" + fmt.Sprintf("%x", sha256Sum(tok)))
	if err != nil || !hashed.allows("Bearer "+tok) || hashed.allows("Bearer x"+tok) {
		t.Errorf("a pre-hashed token does not authenticate its secret: %v", err)
	}
}

func TestProfileRoutes(t *testing.T) {
	s := newTestService(t, v1)
	if r := s.do(t, "POST", "/v1/save", `{"userId":"dave","experimentBucketMap":{"3003":{"variation_id":"4006"}}}`); r.status != 200 {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	r := s.do(t, "POST", "/v1/lookup", `{"userId":"dave"}`)
	if r.status != 200 || strings.TrimSpace(string(r.body)) != `{"userId":"dave","experimentBucketMap":{"3003":{"variation_id":"4006"}}}` {
		t.Fatalf("lookup: %d %s", r.status, r.body)
	}
	// The saved variation is served.
	d := s.do(t, "POST", "/v1/decide?keys=new_search", `{"userId":"dave"}`).json(t).(map[string]any)
	if d["ruleKey"] != "search_experiment" {
		t.Errorf("decision after save: %v", d)
	}
	p := s.do(t, "GET", "/v1/profiles/dave", "").json(t).(map[string]any)
	entry := p["experimentBucketMap"].(map[string]any)["3003"].(map[string]any)
	if entry["variation_id"] != "4006" || entry["decidedAt"] == nil {
		t.Errorf("profile: %v", p)
	}
	for range 2 { // idempotent
		if r := s.do(t, "DELETE", "/v1/profiles/dave", ""); r.status != 204 {
			t.Fatalf("delete: %d %s", r.status, r.body)
		}
	}
	if p, _ := s.store.Lookup(context.Background(), "dave"); !p.Empty() {
		t.Errorf("after delete: %v", p.Assignments)
	}
}

// TestDeleteProfileOverAStoreThatCannot: a layer above a store that
// cannot delete does not hide it; DELETE answers 405.
func TestDeleteProfileOverAStoreThatCannot(t *testing.T) {
	m, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := ups.NewCache(struct{ ups.Service }{m}, ups.CacheOptions{Size: 10, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewAPI(Options{Catalog: catalog{}, Profiles: cache})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("DELETE", "/v1/profiles/dave", nil))
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Body.String(), "cannot delete") {
		t.Fatalf("DELETE = %d %s, want 405", rec.Code, rec.Body)
	}
}

func TestActivate(t *testing.T) {
	s := newTestService(t, v1)
	r := s.do(t, "POST", "/v1/activate?experimentKey=checkout_button&featureKey=new_search&featureKey=nope&experimentKey=nope", alice)
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var got []map[string]any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d answers, want 4: %s", len(got), r.body)
	}
	byKey := map[string]map[string]any{}
	for _, a := range got {
		byKey[fmt.Sprint(a["experimentKey"], "/", a["featureKey"])] = a
	}
	if a := byKey["checkout_button/"]; a["type"] != "experiment" || a["variationKey"] == "" || a["enabled"] != true {
		t.Errorf("experiment: %v", a)
	}
	if a := byKey["search_experiment/new_search"]; a["type"] != "feature" || a["variationKey"] == "" {
		t.Errorf("feature from its A/B test: %v (byKey %v)", a, byKey)
	}
	if a := byKey["nope/"]; a["error"] != "experimentKey not found" {
		t.Errorf("unknown experiment: %v", a)
	}
	if a := byKey["/nope"]; a["error"] != "featureKey not found" {
		t.Errorf("unknown feature: %v", a)
	}
	all := s.do(t, "POST", "/v1/activate?type=feature&type=experiment&enabled=true", alice).json(t).([]any)
	for _, a := range all {
		if a.(map[string]any)["enabled"] != true {
			t.Errorf("enabled=true let through %v", a)
		}
	}
}

// metricsHave checks that the admin listener's /metrics over s's registry
// has each of the lines want.
func (s *testService) metricsHave(t *testing.T, want ...string) {
	t.Helper()
	admin := httptest.NewServer(NewAdmin(AdminOptions{Gatherer: s.reg}))
	defer admin.Close()
	res, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, w := range want {
		if !strings.Contains(string(b), w) {
			t.Errorf("/metrics lacks %s", w)
		}
	}
}

func TestMetrics(t *testing.T) {
	s := newTestService(t, v1)
	s.do(t, "POST", "/v1/decide?keys=new_search", alice)
	s.do(t, "POST", "/v1/decide?keys=new_search", `{`)
	s.metricsHave(t,
		`stickybucket_http_requests_total{code="200",route="decide"} 1`,
		`stickybucket_http_requests_total{code="400",route="decide"} 1`,
		`stickybucket_decisions_total{kind="flag"} 1`,
		`stickybucket_http_request_duration_seconds_count{route="decide"} 2`,
	)
}

// TestEmptySDKKeyHeader: a header sent empty is refused as Agent refuses
// it (400), though a request without the header gets the only datafile.
func TestEmptySDKKeyHeader(t *testing.T) {
	s := newTestService(t, v1)
	for _, tt := range []struct {
		name   string
		header []string // nil: no header at all
		status int
	}{
		{"no header", nil, 200},
		{"empty header", []string{""}, 400},
	} {
		req, err := http.NewRequest("POST", s.url+"/v1/decide?keys=new_search", strings.NewReader(alice))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if tt.header != nil {
			req.Header[sdkKeyHeader] = tt.header
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tt.status {
			t.Errorf("%s: %d %s, want %d", tt.name, res.StatusCode, b, tt.status)
		}
		if tt.status == 400 && !strings.Contains(string(b), "missing required X-Optimizely-SDK-Key header") {
			t.Errorf("%s: %s, want Agent's words", tt.name, b)
		}
	}
}
