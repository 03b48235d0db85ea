package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// What a hostile or unlucky caller can send, and what it gets: always a
// JSON answer with the right status, never more work than a bound.

// listenTestServer runs the API and the admin handlers on loopback through
// Listen, as serve does, so net/http's own answers are part of the test.
func listenTestServer(t *testing.T) (api, admin string) {
	t.Helper()
	s := newTestService(t, v1)
	adm := NewAdmin(AdminOptions{Gatherer: prometheus.NewRegistry()})
	srv, err := Listen(ServerOptions{API: s.handler, Admin: adm, Listen: "127.0.0.1:0", AdminListen: "127.0.0.1:0",
		MaxHeaderBytes: 4 << 10, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	addrs := srv.Addrs()
	return addrs[0].String(), addrs[1].String()
}

// rawRequest sends raw bytes on a new connection and reads one response.
func rawRequest(t *testing.T, addr, raw string) *http.Response {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read the answer to %q: %v", cut(raw, 80), err)
	}
	return res
}

func TestEveryAnswerIsJSON(t *testing.T) {
	api, admin := listenTestServer(t)
	bigHeader := "X-Big: " + strings.Repeat("a", 8<<10) + "\r\n"
	for _, c := range []struct {
		name, addr, raw string
		status          int
	}{
		{"double slash", api, "GET /v1//config HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"dot dot", api, "GET /v1/../health HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"dot dot on admin", admin, "GET /debug/../metrics HTTP/1.1\r\nHost: x\r\n\r\n", 404},
		{"bad percent escape", api, "GET /v1/profiles/%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"headers too large", api, "GET /health HTTP/1.1\r\nHost: x\r\n" + bigHeader + "\r\n", 431},
		{"no host", api, "GET /health HTTP/1.1\r\n\r\n", 400},
		{"bad version", api, "GET /health HTTP/9.9\r\nHost: x\r\n\r\n", 505},
		{"garbage", admin, "\x16\x03\x01 hello\r\n\r\n", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := rawRequest(t, c.addr, c.raw)
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			var e struct{ Error string }
			if res.StatusCode != c.status || res.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Fatalf("%d %q %s; want %d with a JSON error", res.StatusCode, res.Header.Get("Content-Type"), body, c.status)
			}
		})
	}
}

func TestCannedToJSONLeavesOtherWritesAlone(t *testing.T) {
	for _, p := range []string{
		"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{}",
		"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{}",
		"{\"error\":\"x\"}",
	} {
		if _, ok := cannedToJSON([]byte(p)); ok {
			t.Errorf("%q rewritten", p)
		}
	}
	out, ok := cannedToJSON([]byte("HTTP/1.1 431 Request Header Fields Too Large" + cannedHeaders + "431 Request Header Fields Too Large"))
	if !ok || !bytes.Contains(out, []byte(`{"error":"431 Request Header Fields Too Large"}`)) || !bytes.Contains(out, []byte("Content-Type: application/json")) {
		t.Errorf("canned 431: %q", out)
	}
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	const tok = "0123456789abcdef-secret"
	s := newTestService(t, v1, tok)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice, "Authorization", scheme+" "+tok); r.status != 200 {
			t.Errorf("%s: %d %s", scheme, r.status, r.body)
		}
	}
	if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice, "Authorization", "Basic "+tok); r.status != 401 {
		t.Errorf("Basic: %d", r.status)
	}
}

func TestCompressedBodyIs415(t *testing.T) {
	s := newTestService(t, v1)
	r := s.do(t, "POST", "/v1/decide?keys=new_search", "\x1f\x8b\x08\x00garbage", "Content-Encoding", "gzip")
	if r.status != 415 || !strings.Contains(string(r.body), `Content-Encoding \"gzip\" is not supported`) {
		t.Fatalf("gzip body: %d %s", r.status, r.body)
	}
}

// TestDecideAmplificationIsBounded: every decision echoes the user's
// attributes, so many keys times large attributes would build an answer
// of gigabytes; it is refused before anything is decided, with a JSON
// 413 that says why, and an answer within the bound is streamed.
func TestDecideAmplificationIsBounded(t *testing.T) {
	s := newTestService(t, v1)
	h := s.handler
	attrs := `{"blob":"` + strings.Repeat("x", 1000) + `"}`
	body := `{"userId":"u","userAttributes":` + attrs + `}`
	keys := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "&keys=k%d", i)
		}
		return b.String()[1:]
	}
	// The test service allows 4,500-byte bodies; with the default 16 MiB
	// bound, 16,000 keys of a 1 KB context are over, 1,000 are not.
	do := func(n int) *httpRecorder {
		rec := newRecorder()
		req, _ := http.NewRequest("POST", "/v1/decide?"+keys(n), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		return rec
	}
	over := do(16_000)
	if over.status != 413 || !strings.Contains(over.body.String(), "ask for fewer keys or send fewer attributes") {
		t.Fatalf("16,000 keys: %d %s", over.status, cut(over.body.String(), 300))
	}
	if over.writes != 1 {
		t.Errorf("16,000 keys: %d writes for the error", over.writes)
	}
	ok := do(1000)
	var ds []map[string]any
	if ok.status != 200 || json.Unmarshal(ok.body.Bytes(), &ds) != nil || len(ds) != 1000 {
		t.Fatalf("1,000 keys: %d, %d bytes", ok.status, ok.body.Len())
	}
	if ok.writes < 2 || ok.maxWrite > 2*streamChunk {
		t.Errorf("1,000 keys (%d bytes): %d writes of up to %d bytes; want chunks of about %d", ok.body.Len(), ok.writes, ok.maxWrite, streamChunk)
	}
	// A key asked for many times is one decision.
	dup := newRecorder()
	req, _ := http.NewRequest("POST", "/v1/decide?"+strings.Repeat("keys=new_search&", 15_999)+"keys=new_search", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(dup, req)
	if dup.status != 200 || !strings.HasPrefix(dup.body.String(), `{"variationKey"`) {
		t.Fatalf("one key 16,000 times: %d %s", dup.status, cut(dup.body.String(), 200))
	}
}

// httpRecorder records a response and how it was written.
type httpRecorder struct {
	header           http.Header
	status           int
	body             bytes.Buffer
	writes, maxWrite int
}

func newRecorder() *httpRecorder { return &httpRecorder{header: http.Header{}} }

func (r *httpRecorder) Header() http.Header { return r.header }
func (r *httpRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *httpRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	r.writes++
	r.maxWrite = max(r.maxWrite, len(p))
	return r.body.Write(p)
}

func TestThrottledLog(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	tl := newThrottledLog(slog.New(slog.NewTextHandler(&out, nil)), time.Minute)
	tl.now = func() time.Time { return now }
	for i := range 100 {
		fmt.Fprintf(tl, "http: TLS handshake error from 127.0.0.1:%d: EOF\n", 1000+i)
	}
	fmt.Fprintf(tl, "http: superfluous response.WriteHeader call\n")
	if n := strings.Count(out.String(), "TLS handshake error"); n != 1 {
		t.Fatalf("100 handshake errors in a minute: %d lines, want 1:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "superfluous") {
		t.Fatal("another kind of message was throttled with the first")
	}
	now = now.Add(time.Minute)
	fmt.Fprintf(tl, "http: TLS handshake error from 127.0.0.1:9: EOF\n")
	if !strings.Contains(out.String(), "suppressed_since_last=99") {
		t.Fatalf("after the interval: %s; want the count of the 99 suppressed", out.String())
	}
}
