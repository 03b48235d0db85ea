package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// decideServer is a stand-in for a decision service: it checks each
// request as Agent would and answers with a decision for the flag, unless
// fault says otherwise for that user.
type decideServer struct {
	t      *testing.T
	flag   string
	sdkKey string
	// fault picks what to do for a user: "" answers normally.
	fault func(userID string) string
	// onRequest, if set, runs before each answer.
	onRequest func(r *http.Request, userID string)

	ok, status500, badJSON, wrongFlag, hangUp, rejected atomic.Int64
	mu                                                  sync.Mutex
	users                                               map[string]int
}

func (s *decideServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body decideBody
	switch {
	case r.Method != http.MethodPost, r.URL.Path != "/v1/decide", r.URL.Query().Get("keys") != s.flag,
		r.Header.Get("X-Optimizely-SDK-Key") != s.sdkKey, r.Header.Get("Content-Type") != "application/json":
		s.rejected.Add(1)
		http.Error(w, "bad request line or headers", http.StatusBadRequest)
		return
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.UserID == "" {
		s.rejected.Add(1)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.users == nil {
		s.users = map[string]int{}
	}
	s.users[body.UserID]++
	s.mu.Unlock()
	if s.onRequest != nil {
		s.onRequest(r, body.UserID)
	}
	fault := ""
	if s.fault != nil {
		fault = s.fault(body.UserID)
	}
	w.Header().Set("Content-Type", "application/json")
	switch fault {
	case "500":
		s.status500.Add(1)
		http.Error(w, `{"error":"boom"}`, http.StatusInternalServerError)
	case "badjson":
		s.badJSON.Add(1)
		io.WriteString(w, `{"flagKey": "`+s.flag+`", "variationKey": `)
	case "wrongflag":
		s.wrongFlag.Add(1)
		io.WriteString(w, `{"flagKey": "other", "variationKey": "on", "enabled": true}`)
	case "hangup":
		s.hangUp.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			s.t.Errorf("hijack: %v", err)
			return
		}
		conn.Close()
	default:
		s.ok.Add(1)
		variation := "on"
		if strings.HasSuffix(body.UserID, "1") {
			variation = "off"
		}
		fmt.Fprintf(w, `{"variationKey":%q,"enabled":true,"ruleKey":"exp","flagKey":%q,"userContext":{"userId":%q,"attributes":{}},"reasons":[],"variables":{}}`,
			variation, s.flag, body.UserID)
	}
}

func (s *decideServer) total() int64 {
	return s.ok.Load() + s.status500.Load() + s.badJSON.Load() + s.wrongFlag.Load() + s.hangUp.Load()
}

func startServer(t *testing.T, s *decideServer) Target {
	t.Helper()
	s.t = t
	if s.flag == "" {
		s.flag = "new_search"
	}
	if s.sdkKey == "" {
		s.sdkKey = "key1"
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return Target{Name: u.Host, URL: u}
}

func testConfig(targets ...Target) Config {
	return Config{
		Targets:     targets,
		Flag:        "new_search",
		SDKKey:      "key1",
		Clients:     4,
		Users:       50,
		Rounds:      2,
		Duration:    time.Minute, // the request bound ends every round
		MaxRequests: 100,
		Timeout:     10 * time.Second,
	}
}

func TestRunStopsAtMaxRequestsAndCountsEveryRequest(t *testing.T) {
	srv := &decideServer{}
	target := startServer(t, srv)
	target.Name = "svc"
	cfg := testConfig(target)
	cfg.Warmup = time.Minute // bounded by MaxRequests as well

	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(rep.Targets) != 1 {
		t.Fatalf("%d target reports, want 1", len(rep.Targets))
	}
	tr := rep.Targets[0]
	// Two measured rounds of exactly MaxRequests each.
	if tr.Requests != 200 || tr.OK != 200 {
		t.Errorf("requests %d, ok %d; want 200 and 200", tr.Requests, tr.OK)
	}
	if tr.WarmupRequests != 200 {
		t.Errorf("warm-up requests %d, want 200 (two warm-ups of 100)", tr.WarmupRequests)
	}
	// The server saw the probe, both warm-ups and both rounds, nothing
	// rejected.
	if got := srv.total(); got != 1+200+200 {
		t.Errorf("server answered %d requests, want 401", got)
	}
	if n := srv.rejected.Load(); n != 0 {
		t.Errorf("server rejected %d requests", n)
	}
	for i, rr := range tr.Rounds {
		if rr.Requests != 100 || rr.OK != 100 || rr.Round != i+1 {
			t.Errorf("round %d: %+v, want 100 OK requests", i+1, rr)
		}
	}
	if got := tr.Variations["on"] + tr.Variations["off"]; got != 200 || tr.Variations["off"] == 0 {
		t.Errorf("variations %v: want 200 decisions, some of them off", tr.Variations)
	}
	if tr.Latency.P50 <= 0 || tr.Latency.P99 < tr.Latency.P50 || tr.Latency.Max < tr.Latency.P999 {
		t.Errorf("latency %+v: want 0 < p50 <= p99 <= p99.9 <= max", tr.Latency)
	}
	if tr.Connections > int64(cfg.Clients) {
		t.Errorf("%d connections opened during measured rounds; keep-alive should make it at most %d",
			tr.Connections, cfg.Clients)
	}
	if tr.Non2xx+tr.TransportErrors+tr.BadResponses != 0 {
		t.Errorf("errors %+v, want none", tr)
	}
	// Users come from the pool and only from it.
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for u := range srv.users {
		var i int
		if _, err := fmt.Sscanf(u, "user-%06d", &i); err != nil || i < 0 || i >= cfg.Users {
			t.Errorf("user %q is not in the pool of %d", u, cfg.Users)
		}
	}
	if len(srv.users) < 2 {
		t.Errorf("only %d distinct users seen", len(srv.users))
	}
}

func TestRunStopsAfterDuration(t *testing.T) {
	srv := &decideServer{}
	target := startServer(t, srv)
	cfg := testConfig(target)
	cfg.Rounds = 1
	cfg.Duration = 50 * time.Millisecond
	cfg.MaxRequests = 1 << 40

	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	tr := rep.Targets[0]
	if tr.ElapsedSeconds < cfg.Duration.Seconds() {
		t.Errorf("elapsed %.3f s, want at least the duration %v", tr.ElapsedSeconds, cfg.Duration)
	}
	if tr.Requests == 0 || tr.Requests != srv.total()-1 {
		t.Errorf("driver counted %d requests, server answered %d besides the probe", tr.Requests, srv.total()-1)
	}
}

func TestRunAlternatesTargets(t *testing.T) {
	var (
		mu    sync.Mutex
		order []string
	)
	record := func(name string) func(*http.Request, string) {
		return func(*http.Request, string) {
			mu.Lock()
			defer mu.Unlock()
			if len(order) == 0 || order[len(order)-1] != name {
				order = append(order, name)
			}
		}
	}
	a := startServer(t, &decideServer{onRequest: record("A")})
	a.Name = "A"
	b := startServer(t, &decideServer{onRequest: record("B")})
	b.Name = "B"
	cfg := testConfig(a, b)
	cfg.Rounds = 3
	cfg.MaxRequests = 20

	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Probes, then rounds: A, B, A, B, A, B.
	want := "A B A B A B A B"
	if got := strings.Join(order, " "); got != want {
		t.Errorf("targets served in runs %q, want %q", got, want)
	}
	if rep.Targets[0].Name != "A" || rep.Targets[1].Name != "B" {
		t.Errorf("reports in order %q, %q; want A, B", rep.Targets[0].Name, rep.Targets[1].Name)
	}
	for _, tr := range rep.Targets {
		if tr.Requests != 60 || len(tr.Rounds) != 3 {
			t.Errorf("target %s: %d requests in %d rounds, want 60 in 3", tr.Name, tr.Requests, len(tr.Rounds))
		}
	}
	if err := rep.compare("A"); err != nil {
		t.Fatal(err)
	}
	if c := rep.Comparison; len(c.Targets) != 1 || c.Targets[0].Name != "B" || c.Targets[0].RequestsPerSecondRatio <= 0 {
		t.Errorf("comparison %+v: want B against A", c)
	}
	if err := rep.compare("C"); err == nil {
		t.Error("compare with an unknown baseline: no error")
	}
}

func TestRunCountsErrorsByKind(t *testing.T) {
	// The user's last digit picks the fault; user-000000 (the probe) is
	// answered normally.
	srv := &decideServer{fault: func(user string) string {
		switch user[len(user)-1] {
		case '2':
			return "500"
		case '3':
			return "badjson"
		case '4':
			return "wrongflag"
		case '5':
			return "hangup"
		}
		return ""
	}}
	target := startServer(t, srv)
	cfg := testConfig(target)
	cfg.Rounds = 1
	cfg.MaxRequests = 400

	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	tr := rep.Targets[0]
	if tr.Requests != 400 {
		t.Errorf("requests %d, want 400", tr.Requests)
	}
	checks := []struct {
		what       string
		got, want  int64
		mustBeSome bool
	}{
		{"ok", tr.OK, srv.ok.Load() - 1, true}, // less the probe
		{"non-2xx", tr.Non2xx, srv.status500.Load(), true},
		{"bad responses", tr.BadResponses, srv.badJSON.Load() + srv.wrongFlag.Load(), true},
		{"transport errors", tr.TransportErrors, srv.hangUp.Load(), true},
	}
	for _, c := range checks {
		if c.got != c.want || (c.mustBeSome && c.got == 0) {
			t.Errorf("%s: driver counted %d, server did %d", c.what, c.got, c.want)
		}
	}
	if tr.StatusCodes["500"] != tr.Non2xx {
		t.Errorf("status codes %v, want all %d non-2xx as 500", tr.StatusCodes, tr.Non2xx)
	}
	if len(tr.ErrorSamples) == 0 {
		t.Error("no error samples")
	}
	if srv.badJSON.Load() == 0 || srv.wrongFlag.Load() == 0 {
		t.Errorf("bad JSON %d, wrong flag %d: the test should exercise both", srv.badJSON.Load(), srv.wrongFlag.Load())
	}
	if tr.Requests != tr.OK+tr.Non2xx+tr.BadResponses+tr.TransportErrors {
		t.Errorf("requests %d are not ok + errors: %+v", tr.Requests, tr)
	}
}

func TestRunRefusesTargetThatFailsItsFirstRequest(t *testing.T) {
	srv := &decideServer{fault: func(string) string { return "wrongflag" }}
	target := startServer(t, srv)
	rep, err := Run(context.Background(), testConfig(target), nil)
	if err == nil || rep != nil {
		t.Fatalf("Run = %v, %v; want no report and an error", rep, err)
	}
	if !strings.Contains(err.Error(), "flagKey") {
		t.Errorf("error %q does not say what was wrong", err)
	}
	if n := srv.total(); n != 1 {
		t.Errorf("server saw %d requests, want only the probe", n)
	}
}

func TestRunInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Int64
	arrived := make(chan struct{})
	srv := &decideServer{onRequest: func(r *http.Request, _ string) {
		// The probe passes; the first measured request interrupts the run
		// and every request then waits for its own cancellation.
		if seen.Add(1) == 1 {
			return
		}
		if seen.Load() == 2 {
			close(arrived)
		}
		<-r.Context().Done()
	}}
	target := startServer(t, srv)
	cfg := testConfig(target)
	// Only the interrupt can end the requests in flight: if it does not cut
	// every one of them off, this test hangs for a minute.
	cfg.Timeout = time.Minute
	go func() {
		<-arrived
		cancel()
	}()
	rep, err := Run(ctx, cfg, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error %v, want context.Canceled", err)
	}
	if rep == nil || !rep.Interrupted {
		t.Fatalf("report %+v: want a report marked interrupted", rep)
	}
	tr := rep.Targets[0]
	if tr.Canceled == 0 || tr.Non2xx+tr.TransportErrors+tr.BadResponses != 0 {
		t.Errorf("canceled %d, errors %d/%d/%d: want cut-off requests counted as canceled only",
			tr.Canceled, tr.Non2xx, tr.TransportErrors, tr.BadResponses)
	}
	if len(tr.Rounds) != 1 {
		t.Errorf("%d rounds reported, want the one cut short", len(tr.Rounds))
	}
}

func TestConfigValidate(t *testing.T) {
	loop, _ := url.Parse("http://127.0.0.1:1")
	remote, _ := url.Parse("http://192.0.2.1:80")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no target", Config{Flag: "f", SDKKey: "k"}, "no target"},
		{"no flag", Config{Targets: []Target{{Name: "a", URL: loop}}, SDKKey: "k"}, "no flag"},
		{"no key", Config{Targets: []Target{{Name: "a", URL: loop}}, Flag: "f"}, "no SDK key"},
		{"twice", Config{Targets: []Target{{Name: "a", URL: loop}, {Name: "a", URL: loop}}, Flag: "f", SDKKey: "k"}, "twice"},
		{"remote", Config{Targets: []Target{{Name: "a", URL: remote}}, Flag: "f", SDKKey: "k"}, "not a loopback"},
		{"negative", Config{Targets: []Target{{Name: "a", URL: loop}}, Flag: "f", SDKKey: "k", Clients: -1}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Run(context.Background(), tt.cfg, nil)
			if err == nil || rep != nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run = %v, %v; want an error about %q", rep, err, tt.want)
			}
		})
	}
}

// BenchmarkRequest is the cost of one decide request through the driver
// and a minimal in-process server, over loopback; run with -cpuprofile to
// see the driver's share.
func BenchmarkRequest(b *testing.B) {
	body := []byte(`{"variationKey":"on","enabled":true,"ruleKey":"exp","flagKey":"new_search","userContext":{"userId":"user-000001","attributes":{}},"reasons":[],"variables":{"results_per_page":10}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	cfg := testConfig(Target{Name: "bench", URL: u}).withDefaults()
	cfg.Clients = 1
	pool, err := newUserPool(cfg.Users, nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	ts, err := newTargetState(cfg, cfg.Targets[0], pool)
	if err != nil {
		b.Fatal(err)
	}
	defer ts.close()
	w := ts.workers[0]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		res := w.do(ctx, w.rng.IntN(len(w.bodies)))
		if res.kind != outcomeOK {
			b.Fatalf("request failed: %s", res.detail)
		}
		w.count(res)
	}
}

// A connection dialed while a target's connections are being closed (an
// interrupt) must not survive them: its request would wait for the
// server's answer until the request timeout.
func TestConnSetRefusesConnectionsAfterCloseAll(t *testing.T) {
	var s connSet
	c1, p1 := net.Pipe()
	defer p1.Close()
	tracked, err := s.add(c1)
	if err != nil {
		t.Fatal(err)
	}
	s.closeAll()
	if _, err := tracked.Write([]byte("x")); err == nil {
		t.Error("a tracked connection still works after closeAll")
	}
	c2, p2 := net.Pipe()
	defer p2.Close()
	if got, err := s.add(c2); err == nil || got != nil {
		t.Fatalf("add after closeAll = %v, %v; want it refused", got, err)
	}
	if _, err := c2.Write([]byte("x")); err == nil {
		t.Error("a connection refused after closeAll was left open")
	}
	s.reopen()
	c3, p3 := net.Pipe()
	defer p3.Close()
	if _, err := s.add(c3); err != nil {
		t.Errorf("add after reopen: %v", err)
	}
	if n := s.dials(); n != 3 {
		t.Errorf("%d dials counted, want 3", n)
	}
}
