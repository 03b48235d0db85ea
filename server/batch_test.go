package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// newBatchService is newTestService over datafile v1 (SDK key k1) with
// the options edit sets and a body bound large enough for batches.
func newBatchService(t *testing.T, edit func(*Options)) *testService {
	t.Helper()
	store, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Catalog: v1Catalog(t, store), Profiles: store, MaxBodyBytes: 1 << 20}
	reg := prometheus.NewRegistry()
	if opts.Metrics, err = NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&opts)
	}
	h, err := NewAPI(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(canonicalPaths(h))
	t.Cleanup(srv.Close)
	return &testService{url: srv.URL, store: store, reg: reg, handler: h}
}

// v1Catalog holds datafile v1 as k1, deciding over store.
func v1Catalog(t testing.TB, store ups.Service) catalog {
	t.Helper()
	raw, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	return catalog{"k1": testDatafile(t, "k1", raw, decision.Options{Profiles: store})}
}

// batchAnswer is Agent's batch response, decoded strictly.
type batchAnswer struct {
	StartedAt  string      `json:"startedAt"`
	EndedAt    string      `json:"endedAt"`
	ErrorCount int         `json:"errorCount"`
	Response   []batchResp `json:"response"`
}

type batchResp struct {
	Status      int             `json:"status"`
	RequestID   string          `json:"requestID"`
	OperationID string          `json:"operationID"`
	Method      string          `json:"method"`
	URL         string          `json:"url"`
	Body        json.RawMessage `json:"body"`
	StartedAt   string          `json:"startedAt"`
	EndedAt     string          `json:"endedAt"`
}

func decodeBatch(t *testing.T, r response) batchAnswer {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("batch: %d %s", r.status, r.body)
	}
	var a batchAnswer
	strictDecode(t, r.body, &a)
	return a
}

// op builds one operation as JSON.
func op(id, method, url, body string, headers ...string) string {
	h := map[string]string{}
	for i := 0; i+1 < len(headers); i += 2 {
		h[headers[i]] = headers[i+1]
	}
	hj, _ := json.Marshal(h)
	if body == "" {
		body = "null"
	}
	return fmt.Sprintf(`{"operationID":%q,"method":%q,"url":%q,"body":%s,"headers":%s}`, id, method, url, body, hj)
}

func batchOf(ops ...string) string { return `{"operations":[` + strings.Join(ops, ",") + `]}` }

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// TestBatchAnswersAsEachRoute: every operation's status and body are what
// the same request answers on its own, whatever its method and route.
func TestBatchAnswersAsEachRoute(t *testing.T) {
	s := newBatchService(t, nil)
	ct := "Content-Type"
	js := "application/json"
	type direct struct{ method, path, body string }
	cases := []struct {
		op     string
		direct direct
		status int
	}{
		{op("1", "POST", "/v1/decide?keys=new_search", alice, ct, js, "X-Request-Id", "req-1"), direct{"POST", "/v1/decide?keys=new_search", alice}, 200},
		{op("2", "POST", "/v1/decide", `{"userId":"bob"}`, ct, js), direct{"POST", "/v1/decide", `{"userId":"bob"}`}, 200},
		{op("3", "GET", "/v1/config", "", sdkKeyHeader, "k1"), direct{"GET", "/v1/config", ""}, 200},
		{op("4", "GET", "/v1/datafile", ""), direct{"GET", "/v1/datafile", ""}, 200},
		{op("5", "POST", "/v1/activate?experimentKey=checkout_button", alice, ct, js), direct{"POST", "/v1/activate?experimentKey=checkout_button", alice}, 200},
		{op("6", "POST", "/v1/lookup", `{"userId":"alice"}`, ct, js), direct{"POST", "/v1/lookup", `{"userId":"alice"}`}, 200},
		{op("7", "GET", "/v1/nowhere", ""), direct{"GET", "/v1/nowhere", ""}, 404},
		{op("8", "PUT", "/v1/decide", alice, ct, js), direct{"PUT", "/v1/decide", alice}, 405},
		{op("9", "POST", "/v1/decide?keys=new_search", `{}`, ct, js), direct{"POST", "/v1/decide?keys=new_search", `{}`}, 400},
		{op("10", "POST", "/v1/override", `{"userId":"a"}`, ct, js), direct{"POST", "/v1/override", `{"userId":"a"}`}, 403},
		{op("11", "GET", "/v1/decide/../config", ""), direct{"GET", "/v1/decide/../config", ""}, 404},
	}
	ops := make([]string, len(cases))
	for i, c := range cases {
		ops[i] = c.op
	}
	// alice's decisions and activation are made before the batch, so the
	// store holds every assignment the batch's operations could add and
	// the lookup among them, which runs concurrently, reads what the one
	// made alone after the batch reads.
	s.do(t, "POST", "/v1/decide", alice)
	s.do(t, "POST", "/v1/activate?experimentKey=checkout_button", alice)
	a := decodeBatch(t, s.do(t, "POST", "/v1/batch", batchOf(ops...)))
	if len(a.Response) != len(cases) || a.ErrorCount != 5 {
		t.Fatalf("%d answers, errorCount %d; want %d, 5", len(a.Response), a.ErrorCount, len(cases))
	}
	for i, c := range cases {
		got := a.Response[i]
		var o batchOperation
		if err := json.Unmarshal([]byte(c.op), &o); err != nil {
			t.Fatal(err)
		}
		if got.OperationID != o.OperationID || got.Method != o.Method || got.URL != o.URL {
			t.Errorf("answer %d is for %s %s %s, want %s %s %s", i, got.OperationID, got.Method, got.URL, o.OperationID, o.Method, o.URL)
		}
		if got.Status != c.status {
			t.Errorf("operation %s: status %d, want %d: %s", o.OperationID, got.Status, c.status, got.Body)
		}
		var hdr []string
		for k, v := range o.Headers {
			hdr = append(hdr, k, v)
		}
		want := s.do(t, c.direct.method, c.direct.path, c.direct.body, hdr...)
		if want.status != got.Status {
			t.Errorf("operation %s: status %d, %d on its own", o.OperationID, got.Status, want.status)
		}
		sameJSON(t, got.Body, want.body)
		if o.OperationID == "1" && got.RequestID != "req-1" {
			t.Errorf("requestID %q, want the operation's X-Request-Id", got.RequestID)
		}
		if o.OperationID != "1" && !uuidPattern.MatchString(got.RequestID) {
			t.Errorf("operation %s: requestID %q is not a UUID", o.OperationID, got.RequestID)
		}
		if got.StartedAt == "" || got.EndedAt < got.StartedAt {
			t.Errorf("operation %s: startedAt %q, endedAt %q", o.OperationID, got.StartedAt, got.EndedAt)
		}
	}
}

// TestBatchOperationRequests: params join the query, a missing body is
// null, a POST without Content-Type is 415, a DELETE's 204 is no error,
// and an operation whose method or URL make no request is a 400 of its
// own.
func TestBatchOperationRequests(t *testing.T) {
	s := newBatchService(t, nil)
	s.do(t, "POST", "/v1/decide", `{"userId":"carol"}`)
	body := `{"operations":[
		{"operationID":"p","method":"POST","url":"/v1/decide","params":{"keys":"dark_mode"},"body":{"userId":"carol"},"headers":{"Content-Type":"application/json"}},
		{"operationID":"n","method":"POST","url":"/v1/decide","headers":{"Content-Type":"application/json"}},
		{"operationID":"t","method":"POST","url":"/v1/decide","body":{"userId":"carol"}},
		{"operationID":"d","method":"DELETE","url":"/v1/profiles/carol"},
		{"operationID":"m","method":"bad method","url":"/v1/config"},
		{"operationID":"u","method":"GET","url":"/v1/#%"},
		{"operationID":"e","url":"/v1/config"}
	]}`
	a := decodeBatch(t, s.do(t, "POST", "/v1/batch", body))
	byID := map[string]batchResp{}
	for _, r := range a.Response {
		byID[r.OperationID] = r
	}
	var dec map[string]any
	if err := json.Unmarshal(byID["p"].Body, &dec); err != nil || byID["p"].Status != 200 || dec["flagKey"] != "dark_mode" {
		t.Errorf("params: %d %s, want the decision of dark_mode", byID["p"].Status, byID["p"].Body)
	}
	if r := byID["n"]; r.Status != 400 || !bytes.Contains(r.Body, []byte(`missing \"userId\"`)) {
		t.Errorf("no body: %d %s, want 400 missing userId (the body is null, as Agent sends it)", r.Status, r.Body)
	}
	if r := byID["t"]; r.Status != 415 {
		t.Errorf("no Content-Type: %d %s, want 415 (as Agent)", r.Status, r.Body)
	}
	if r := byID["d"]; r.Status != 204 || string(r.Body) != "null" {
		t.Errorf("delete: %d %s, want 204 null", r.Status, r.Body)
	}
	for _, id := range []string{"m", "u"} {
		if r := byID[id]; r.Status != 400 || r.RequestID != "" || !bytes.Contains(r.Body, []byte("make no request")) {
			t.Errorf("operation %s: %d %q %s, want 400 saying no request could be made", id, r.Status, r.RequestID, r.Body)
		}
	}
	if r := byID["e"]; r.Status != 200 || r.Method != "" {
		t.Errorf("no method: %d %q, want GET's 200 (as http.NewRequest takes it)", r.Status, r.Method)
	}
	// 415, 400, 400, 400: the 204 is a success.
	if a.ErrorCount != 4 {
		t.Errorf("errorCount %d, want 4", a.ErrorCount)
	}
}

// TestBatchMalformed: what Agent cannot decode is its 400 with its
// message; an empty list or null is an empty batch.
func TestBatchMalformed(t *testing.T) {
	s := newBatchService(t, nil)
	for _, body := range []string{
		"", "[]", "not json", `{"operations":"x"}`, `{"operations":[1]}`,
		`{"operations":[{"operationID":1}]}`, `{"operations":[{"body":[1]}]}`, `{"operations":[{"body":"x"}]}`,
		`{"operations":[{"headers":{"a":1}}]}`, `{"operations":[{"params":{"a":true}}]}`,
		`{"operations":[]} trailing`, `{"operations":[`,
	} {
		r := s.do(t, "POST", "/v1/batch", body)
		var e struct{ Error string }
		_ = json.Unmarshal(r.body, &e)
		if r.status != 400 || !strings.HasPrefix(e.Error, "cannot decode the operation body") {
			t.Errorf("%q: %d %s, want 400 cannot decode the operation body", body, r.status, r.body)
		}
	}
	for _, body := range []string{"null", "{}", `{"operations":[]}`, `{"operations":null}`} {
		a := decodeBatch(t, s.do(t, "POST", "/v1/batch", body))
		if len(a.Response) != 0 || a.ErrorCount != 0 {
			t.Errorf("%q: %+v, want an empty batch", body, a)
		}
	}
	// Agent reads a batch whatever its declared type.
	if r := s.do(t, "POST", "/v1/batch", `{"operations":[]}`, "Content-Type", "text/plain"); r.status != 200 {
		t.Errorf("text/plain batch: %d %s", r.status, r.body)
	}
	if r := s.do(t, "POST", "/v1/batch", `{}`, "Content-Encoding", "gzip"); r.status != 415 {
		t.Errorf("gzip batch: %d %s, want 415", r.status, r.body)
	}
	if r := s.do(t, "GET", "/v1/batch", ""); r.status != 405 || r.header.Get("Allow") != "POST" {
		t.Errorf("GET /v1/batch: %d %v", r.status, r.header)
	}
}

// TestBatchOperationsLimit: over the limit is Agent's 422 and message,
// before any operation runs; at the limit the batch runs.
func TestBatchOperationsLimit(t *testing.T) {
	s := newBatchService(t, func(o *Options) { o.Batch.OperationsLimit = 3 })
	save := op("s", "POST", "/v1/save", `{"userId":"dave","experimentBucketMap":{"3001":{"variation_id":"4002"}}}`, "Content-Type", "application/json")
	r := s.do(t, "POST", "/v1/batch", batchOf(save, save, save, save))
	if r.status != 422 || string(r.body) != `{"error":"too many operations, exceeding 3 operations"}`+"\n" {
		t.Errorf("4 operations: %d %s", r.status, r.body)
	}
	if p, _ := s.store.Lookup(context.Background(), "dave"); len(p.Assignments) != 0 {
		t.Errorf("a refused batch ran its operations: %+v", p)
	}
	if a := decodeBatch(t, s.do(t, "POST", "/v1/batch", batchOf(save, save, save))); a.ErrorCount != 0 {
		t.Errorf("3 operations: %+v", a)
	}
	// Agent's default.
	d := newBatchService(t, nil)
	ops := make([]string, 501)
	for i := range ops {
		ops[i] = `{}`
	}
	if r := d.do(t, "POST", "/v1/batch", batchOf(ops...)); r.status != 422 || !strings.Contains(string(r.body), "exceeding 500 operations") {
		t.Errorf("501 operations: %d %s", r.status, r.body)
	}
}

// TestBatchTokens: with tokens, a batch needs one as a whole (401 before
// anything runs); its operations inherit it unless they send their own,
// which is checked like any request's.
func TestBatchTokens(t *testing.T) {
	const tok = "0123456789abcdef-secret"
	s := newBatchService(t, func(o *Options) {
		var err error
		if o.Tokens, err = NewTokens(tok); err != nil {
			t.Fatal(err)
		}
	})
	save := op("s", "POST", "/v1/save", `{"userId":"erin","experimentBucketMap":{"3001":{"variation_id":"4002"}}}`, "Content-Type", "application/json", "Authorization", "Bearer "+tok)
	for _, h := range [][]string{nil, {"Authorization", "Bearer wrong-token-0123456789"}} {
		r := s.do(t, "POST", "/v1/batch", batchOf(save), h...)
		if r.status != 401 || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("outer %v: %d %s, want 401 even though the operation carries the token", h, r.status, r.body)
		}
	}
	if p, _ := s.store.Lookup(context.Background(), "erin"); len(p.Assignments) != 0 {
		t.Errorf("an unauthenticated batch saved: %+v", p)
	}
	ct := "application/json"
	body := batchOf(
		op("inherits", "POST", "/v1/lookup", `{"userId":"erin"}`, "Content-Type", ct),
		op("own", "POST", "/v1/lookup", `{"userId":"erin"}`, "Content-Type", ct, "Authorization", "Bearer "+tok),
		op("wrong", "POST", "/v1/lookup", `{"userId":"erin"}`, "Content-Type", ct, "Authorization", "Bearer wrong-token-0123456789"),
		op("nested", "POST", "/v1/batch", batchOf(save), "Content-Type", ct, "Authorization", "Bearer wrong-token-0123456789"),
	)
	a := decodeBatch(t, s.do(t, "POST", "/v1/batch", body, "Authorization", "Bearer "+tok))
	for i, want := range []int{200, 200, 401, 401} {
		if got := a.Response[i]; got.Status != want {
			t.Errorf("operation %s: %d %s, want %d", got.OperationID, got.Status, got.Body, want)
		}
	}
}

// TestBatchNested: a batch inside a batch is refused, its operations never
// run, at any depth.
func TestBatchNested(t *testing.T) {
	s := newBatchService(t, nil)
	save := op("s", "POST", "/v1/save", `{"userId":"finn","experimentBucketMap":{"3001":{"variation_id":"4002"}}}`, "Content-Type", "application/json")
	inner := batchOf(op("n", "POST", "/v1/batch", batchOf(save), "Content-Type", "application/json"), save)
	a := decodeBatch(t, s.do(t, "POST", "/v1/batch", batchOf(op("outer", "POST", "/v1/batch", inner, "Content-Type", "application/json"))))
	if r := a.Response[0]; r.Status != 404 || !bytes.Contains(r.Body, []byte("cannot be an operation of a batch")) {
		t.Errorf("nested batch: %d %s", r.Status, r.Body)
	}
	if p, _ := s.store.Lookup(context.Background(), "finn"); len(p.Assignments) != 0 {
		t.Errorf("a nested batch's operation ran: %+v", p)
	}
}

// gateStore blocks each Lookup until released (or its context ends),
// counting the lookups in flight.
type gateStore struct {
	ups.Service
	mu        sync.Mutex
	inFlight  int
	maxFlight int
	entered   chan struct{}
	release   chan struct{}
	// ended receives each lookup's context error as it returns.
	ended chan error
}

func newGateStore(t *testing.T) *gateStore {
	m, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &gateStore{Service: m, entered: make(chan struct{}), release: make(chan struct{}), ended: make(chan error, 1000)}
}

func (g *gateStore) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	g.mu.Lock()
	g.inFlight++
	g.maxFlight = max(g.maxFlight, g.inFlight)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	select {
	case g.entered <- struct{}{}:
	case <-ctx.Done():
		g.ended <- ctx.Err()
		return ups.Profile{}, ctx.Err()
	}
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	g.ended <- ctx.Err()
	if ctx.Err() != nil {
		return ups.Profile{}, ctx.Err()
	}
	return g.Service.Lookup(ctx, userID)
}

func lookups(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = op(fmt.Sprint(i), "POST", "/v1/lookup", fmt.Sprintf(`{"userId":"u%d"}`, i), "Content-Type", "application/json")
	}
	return batchOf(ops...)
}

// TestBatchConcurrencyIsBounded: with MaxConcurrency 4, four operations
// enter the store and a fifth only once one is released. Entering is an
// unbuffered send the test receives, so operations beyond the bound would
// be counted in flight before the test releases any.
func TestBatchConcurrencyIsBounded(t *testing.T) {
	const n, bound = 25, 4
	g := newGateStore(t)
	h, err := NewAPI(Options{Catalog: v1Catalog(t, g), Profiles: g, Batch: BatchOptions{MaxConcurrency: bound}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/batch", strings.NewReader(lookups(n))))
		done <- rec
	}()
	for range bound {
		<-g.entered
	}
	g.mu.Lock()
	if g.inFlight != bound {
		t.Errorf("%d lookups in flight before any was released, want %d", g.inFlight, bound)
	}
	g.mu.Unlock()
	for range n - bound {
		g.release <- struct{}{}
		<-g.entered
	}
	for range bound {
		g.release <- struct{}{}
	}
	rec := <-done
	a := decodeBatch(t, response{status: rec.Code, body: rec.Body.Bytes()})
	if len(a.Response) != n || a.ErrorCount != 0 {
		t.Errorf("%d answers, %d errors", len(a.Response), a.ErrorCount)
	}
	for i, r := range a.Response {
		if r.OperationID != fmt.Sprint(i) || !bytes.Contains(r.Body, []byte(fmt.Sprintf(`"u%d"`, i))) {
			t.Errorf("answer %d: operation %s %s: answers are in the operations' order", i, r.OperationID, r.Body)
		}
	}
	if g.maxFlight != bound {
		t.Errorf("at most %d lookups were in flight, want %d", g.maxFlight, bound)
	}
}

// TestBatchCancel: when the client goes away, the running operations see
// their context canceled, no further one starts, and the batch returns.
func TestBatchCancel(t *testing.T) {
	const n, bound = 20, 3
	g := newGateStore(t)
	h, err := NewAPI(Options{Catalog: v1Catalog(t, g), Profiles: g, Batch: BatchOptions{MaxConcurrency: bound}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, "POST", "/v1/batch", strings.NewReader(lookups(n))))
		done <- rec
	}()
	for range bound {
		<-g.entered
	}
	cancel()
	rec := <-done
	close(g.ended)
	ended := 0
	for err := range g.ended {
		ended++
		if err != context.Canceled {
			t.Errorf("a lookup ended with %v, want context.Canceled", err)
		}
	}
	if ended != bound {
		t.Errorf("%d lookups ran, want the %d running when the client left", ended, bound)
	}
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "problem with making operation requests") {
		t.Errorf("canceled batch: %d %s", rec.Code, rec.Body)
	}
}

// TestBatchAnswersAreBounded: the operations' answers share the decide
// answer bound; an operation whose answer does not fit gets a 413 and the
// batch stays within the bound.
func TestBatchAnswersAreBounded(t *testing.T) {
	raw, _ := os.ReadFile("../examples/datafile-v1.json")
	limit := int64(3*len(raw) + 100) // three datafiles fit, not four
	s := newBatchService(t, func(o *Options) { o.MaxResponseBytes = limit; o.Batch.MaxConcurrency = 1 })
	ops := make([]string, 6)
	for i := range ops {
		ops[i] = op(fmt.Sprint(i), "GET", "/v1/datafile", "")
	}
	r := s.do(t, "POST", "/v1/batch", batchOf(ops...))
	a := decodeBatch(t, r)
	for i, got := range a.Response {
		want := 200
		if i >= 3 {
			want = 413
		}
		if got.Status != want {
			t.Errorf("operation %d: %d, want %d", i, got.Status, want)
		}
		if want == 200 {
			sameJSON(t, got.Body, raw)
		}
	}
	if a.ErrorCount != 3 || int64(len(r.body)) > limit+4096 {
		t.Errorf("errorCount %d, answer %d bytes for a limit of %d", a.ErrorCount, len(r.body), limit)
	}
	// Concurrently, the bound holds whichever operations win.
	s = newBatchService(t, func(o *Options) { o.MaxResponseBytes = limit; o.Batch.MaxConcurrency = 6 })
	r = s.do(t, "POST", "/v1/batch", batchOf(ops...))
	if a := decodeBatch(t, r); a.ErrorCount < 3 || int64(len(r.body)) > limit+4096 {
		t.Errorf("concurrent: errorCount %d, answer %d bytes for a limit of %d", a.ErrorCount, len(r.body), limit)
	}
}

// panicCatalog panics for the SDK key "panic".
type panicCatalog struct{ catalog }

func (p panicCatalog) Datafile(sdkKey string) (Datafile, error) {
	if sdkKey == "panic" {
		panic("test panic")
	}
	return p.catalog.Datafile(sdkKey)
}

// TestBatchOperationPanic: a handler's panic fails its operation with a
// 500, not the process.
func TestBatchOperationPanic(t *testing.T) {
	s := newBatchService(t, func(o *Options) { o.Catalog = panicCatalog{o.Catalog.(catalog)} })
	a := decodeBatch(t, s.do(t, "POST", "/v1/batch", batchOf(op("p", "GET", "/v1/config", "", sdkKeyHeader, "panic"), op("ok", "GET", "/v1/config", ""))))
	if a.Response[0].Status != 500 || a.Response[1].Status != 200 || a.ErrorCount != 1 {
		t.Errorf("%+v", a)
	}
}

// TestBatchMetrics: operations are counted under their own routes, the
// batch once under "batch".
func TestBatchMetrics(t *testing.T) {
	s := newBatchService(t, nil)
	ct := "application/json"
	s.do(t, "POST", "/v1/batch", batchOf(
		op("1", "POST", "/v1/decide?keys=new_search", alice, "Content-Type", ct),
		op("2", "POST", "/v1/decide?keys=new_search", alice, "Content-Type", ct),
		op("3", "GET", "/v1/nowhere", ""),
		op("4", "POST", "/v1/batch", "{}", "Content-Type", ct),
	))
	s.metricsHave(t,
		`stickybucket_http_requests_total{code="200",route="decide"} 2`,
		`stickybucket_http_requests_total{code="404",route="not_found"} 1`,
		`stickybucket_http_requests_total{code="404",route="batch"} 1`,
		`stickybucket_http_requests_total{code="200",route="batch"} 1`,
		`stickybucket_decisions_total{kind="flag"} 2`,
	)
}

// TestBatchRequestIDs are UUIDs of version 4, each its own.
func TestBatchRequestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		if !uuidPattern.MatchString(id) || seen[id] {
			t.Fatalf("%q: not a v4 UUID or seen before", id)
		}
		seen[id] = true
	}
	if !reflect.DeepEqual(errorJSON(`a "b"`), []byte(`{"error":"a \"b\""}`)) {
		t.Errorf("errorJSON: %s", errorJSON(`a "b"`))
	}
}

// TestBatchMalformedSaysWhere: a value of the wrong type is named by its
// place in the batch.
func TestBatchMalformedSaysWhere(t *testing.T) {
	for body, want := range map[string]string{
		`{"operations":[{},{"operationID":7}]}`:         `operations[1].operationID must be a string, not a number`,
		`{"operations":[{"headers":{"X-A/b":1}}]}`:      `operations[0].headers.X-A/b must be a string, not a number`,
		`{"operations":"x"}`:                            `operations must be an array, not a string`,
		`{"operations":[{"params":{"keys":["a"]}}]}`:    `operations[0].params.keys must be a string, not an array`,
		`{"operations":[{"method":"GET","body":true}]}`: `operations[0].body must be an object, not a boolean`,
		`[]`: `the body must be a JSON object, not an array`,
	} {
		_, err := parseBatch([]byte(body))
		if err == nil || err.Error() != errBatchDecode+": "+want {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// TestBatchLargeAnswers: answers beyond a chunk are written as they are,
// between the chunks of the batch's answer.
func TestBatchLargeAnswers(t *testing.T) {
	s := newBatchService(t, nil)
	big := fmt.Sprintf(`{"userId":"gina","userAttributes":{"plan":"pro","note":%q}}`, strings.Repeat("x", 20_000))
	ct := "application/json"
	a := decodeBatch(t, s.do(t, "POST", "/v1/batch", batchOf(
		op("small", "POST", "/v1/decide?keys=new_search", alice, "Content-Type", ct),
		op("big", "POST", "/v1/decide", big, "Content-Type", ct),
		op("small2", "GET", "/v1/config", ""),
	)))
	if len(a.Response[1].Body) <= streamChunk {
		t.Fatalf("the big answer is %d bytes, want more than a chunk (%d)", len(a.Response[1].Body), streamChunk)
	}
	sameJSON(t, a.Response[1].Body, s.do(t, "POST", "/v1/decide", big).body)
	sameJSON(t, a.Response[0].Body, s.do(t, "POST", "/v1/decide?keys=new_search", alice).body)
	sameJSON(t, a.Response[2].Body, s.do(t, "GET", "/v1/config", "").body)
}
