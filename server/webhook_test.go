package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// agentWebhookBody and agentWebhookSignature are the message and
// signature of Agent's TestHandleWebhookValidMessage (its signature "has
// been computed from the Optimizely application"), under the secret
// "I am secret", for project 42.
const (
	agentWebhookBody      = `{"project_id":42,"timestamp":42424242,"event":"project.datafile_updated","data":{"revision":101,"origin_url":"origin.optimizely.com/datafiles/myDatafile","cdn_url":"cdn.optimizely.com/datafiles/myDatafile","environment":"Production"}}`
	agentWebhookSignature = "sha1=e0199de63fb7192634f52136d4ceb7dc6f191da3"
)

// refreshes records the SDK keys a webhook refreshed.
type refreshes struct {
	mu   sync.Mutex
	keys []string
	fail map[string]error
}

func (r *refreshes) refresh(ctx context.Context, key string) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("refresh without a deadline")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, key)
	return r.fail[key]
}

func (r *refreshes) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.keys
	r.keys = nil
	return k
}

func sign(body, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(body))
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

func newTestWebhook(t *testing.T) (*httptest.Server, *refreshes) {
	t.Helper()
	rec := &refreshes{fail: map[string]error{"broken": errors.New("fetch datafile: status 500")}}
	h, err := NewWebhook(WebhookOptions{
		Projects: map[int64]WebhookProject{
			42:    {SDKKeys: []string{"myDatafile", "other"}, Secret: "I am secret"},
			7:     {SDKKeys: []string{"unsigned"}, SkipSignatureCheck: true},
			10000: {SDKKeys: []string{"broken", "fine"}, Secret: "s"},
		},
		Refresh:      rec.refresh,
		MaxBodyBytes: 2048,
		Log:          slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h) // on loopback
	t.Cleanup(srv.Close)
	return srv, rec
}

func postWebhook(t *testing.T, srv *httptest.Server, path, body, contentType, signature string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if signature != "" {
		req.Header.Set("X-Hub-Signature", signature)
	}
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<16))
	return res.StatusCode, string(b)
}

// The webhook answers as Agent's handler does: a message signed by
// Optimizely (Agent's own test vector) refreshes the project's SDK keys,
// then 204; a bad or missing signature is 400 and refreshes nothing; an
// unknown project is 204 and refreshes nothing.
func TestWebhook(t *testing.T) {
	srv, rec := newTestWebhook(t)
	if got := sign(agentWebhookBody, "I am secret"); got != agentWebhookSignature {
		t.Fatalf("HMAC-SHA1 of Agent's test message: %s, Agent's test says %s", got, agentWebhookSignature)
	}
	other := strings.Replace(agentWebhookBody, `"project_id":42`, `"project_id":43`, 1)
	unsigned := strings.Replace(agentWebhookBody, `"project_id":42`, `"project_id":7`, 1)
	tests := []struct {
		name, body, contentType, signature string
		status                             int
		refreshed                          []string
		errorHas                           string
	}{
		{"signed", agentWebhookBody, "application/json", agentWebhookSignature, 204, []string{"myDatafile", "other"}, ""},
		{"signed, no content type", agentWebhookBody, "", agentWebhookSignature, 415, nil, "Content-Type must be application/json"},
		{"bad signature", agentWebhookBody, "application/json", "sha1=some_random_signature_in_header", 400, nil, "signature does not match"},
		{"signed with another secret", agentWebhookBody, "application/json", sign(agentWebhookBody, "not the secret"), 400, nil, "signature does not match"},
		{"signature without sha1=", agentWebhookBody, "application/json", strings.TrimPrefix(agentWebhookSignature, "sha1="), 400, nil, "signature does not match"},
		{"signature of another body", agentWebhookBody + " ", "application/json", agentWebhookSignature, 400, nil, "signature does not match"},
		{"missing signature", agentWebhookBody, "application/json", "", 400, nil, "signature does not match"},
		{"unknown project", other, "application/json", sign(other, "I am secret"), 204, nil, ""},
		{"skip signature check", unsigned, "application/json; charset=utf-8", "", 204, []string{"unsigned"}, ""},
		{"not JSON", "project_id=42", "application/json", "", 400, nil, "unable to parse webhook message"},
		{"project_id not a number", `{"project_id":"42"}`, "application/json", "", 400, nil, "unable to parse webhook message"},
		{"too large", `{"project_id":42,"event":"` + strings.Repeat("x", 4096) + `"}`, "application/json", "", 413, nil, "limit is 2048"},
	}
	for _, tt := range tests {
		status, body := postWebhook(t, srv, "/webhooks/optimizely", tt.body, tt.contentType, tt.signature)
		got := rec.take()
		if status != tt.status || !slices.Equal(got, tt.refreshed) {
			t.Errorf("%s: %d, refreshed %q; want %d, %q (body %s)", tt.name, status, got, tt.status, tt.refreshed, body)
		}
		if tt.errorHas != "" && (!strings.Contains(body, `"error":`) || !strings.Contains(body, tt.errorHas)) {
			t.Errorf("%s: body %s, want a JSON error with %q", tt.name, body, tt.errorHas)
		}
		if tt.status == 204 && body != "" {
			t.Errorf("%s: 204 with body %q", tt.name, body)
		}
	}
}

// A failed refresh does not stop the others and the answer is still 204,
// as Agent's: the datafile in force keeps serving, and the failure is the
// datafile set's to log and count.
func TestWebhookRefreshFailure(t *testing.T) {
	srv, rec := newTestWebhook(t)
	body := `{"project_id":10000,"event":"project.datafile_updated","data":{"revision":3,"environment":"Production"}}`
	status, answer := postWebhook(t, srv, "/webhooks/optimizely", body, "application/json", sign(body, "s"))
	if got := rec.take(); status != 204 || !slices.Equal(got, []string{"broken", "fine"}) {
		t.Errorf("%d %s, refreshed %q; want 204 and both refreshed", status, answer, got)
	}
}

// Other routes and methods are JSON errors; nothing is refreshed.
func TestWebhookRoutes(t *testing.T) {
	srv, rec := newTestWebhook(t)
	if status, body := postWebhook(t, srv, "/v1/decide", agentWebhookBody, "application/json", agentWebhookSignature); status != 404 || !strings.Contains(body, `"error":`) {
		t.Errorf("POST /v1/decide on the webhook listener: %d %s, want a 404 JSON error", status, body)
	}
	res, err := srv.Client().Get(srv.URL + "/webhooks/optimizely")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 || res.Header.Get("Allow") != "POST" {
		t.Errorf("GET /webhooks/optimizely: %d Allow %q, want 405 Allow POST", res.StatusCode, res.Header.Get("Allow"))
	}
	if got := rec.take(); len(got) != 0 {
		t.Errorf("refreshed %q", got)
	}
}

func TestNewWebhookErrors(t *testing.T) {
	refresh := func(context.Context, string) error { return nil }
	for name, opts := range map[string]WebhookOptions{
		"no projects": {Refresh: refresh},
		"no refresh":  {Projects: map[int64]WebhookProject{1: {SDKKeys: []string{"k"}, Secret: "s"}}},
		"no secret":   {Projects: map[int64]WebhookProject{1: {SDKKeys: []string{"k"}}}, Refresh: refresh},
	} {
		if _, err := NewWebhook(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// At most webhookInFlight webhooks fetch at once: held inside Refresh by a
// gate, they fill the slots, and the next is answered 503 with
// Retry-After at once; released, they all finish with 204 and a slot is
// free again.
func TestWebhookInFlightBound(t *testing.T) {
	entered := make(chan string, webhookInFlight+1)
	gate := make(chan struct{})
	h, err := NewWebhook(WebhookOptions{
		Projects: map[int64]WebhookProject{1: {SDKKeys: []string{"k"}, SkipSignatureCheck: true}},
		Refresh: func(ctx context.Context, key string) error {
			entered <- key
			select {
			case <-gate:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	body := `{"project_id":1}`
	statuses := make(chan int, webhookInFlight)
	for range webhookInFlight {
		go func() {
			status, _ := postWebhookStatus(srv, body)
			statuses <- status
		}()
	}
	deadline := time.After(10 * time.Second)
	for range webhookInFlight {
		select {
		case <-entered:
		case <-deadline:
			t.Fatal("the webhooks did not all reach Refresh within 10s")
		}
	}
	status, answer := postWebhook(t, srv, "/webhooks/optimizely", body, "application/json", "")
	if status != 503 || !strings.Contains(answer, "try again") {
		t.Errorf("a webhook beyond the bound: %d %s, want 503", status, answer)
	}
	close(gate)
	for range webhookInFlight {
		select {
		case s := <-statuses:
			if s != 204 {
				t.Errorf("a held webhook answered %d, want 204", s)
			}
		case <-deadline:
			t.Fatal("the held webhooks did not finish within 10s of their release")
		}
	}
	if status, answer := postWebhook(t, srv, "/webhooks/optimizely", body, "application/json", ""); status != 204 {
		t.Errorf("after the others finished: %d %s, want 204", status, answer)
	}
}

// postWebhookStatus posts body from a goroutine other than the test's.
func postWebhookStatus(srv *httptest.Server, body string) (int, error) {
	res, err := srv.Client().Post(srv.URL+"/webhooks/optimizely", "application/json", strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}
