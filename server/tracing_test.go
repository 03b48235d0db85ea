package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// What a traced request carries that no span may hold (unless user_id is
// on, the user ID).
const (
	secretUser  = "user-5ecret-4711"
	secretAttr  = "attr-5ecret-0815"
	secretToken = "token-5ecret-2342"
)

// tracedAPI is the API over the in-memory store with a Traced layer, as
// stack wires them, its spans recorded.
type tracedAPI struct {
	handler http.Handler
	rec     *tracetest.SpanRecorder
}

func newTracedAPI(t *testing.T, userID bool, sampler sdktrace.Sampler) tracedAPI {
	t.Helper()
	mem, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return newTracedAPIOver(t, userID, sampler, mem)
}

// newTracedAPIOver is newTracedAPI over the store base.
func newTracedAPIOver(t *testing.T, userID bool, sampler sdktrace.Sampler, base ups.Service) tracedAPI {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithSampler(sampler))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("stickybucket")
	store, err := ups.NewTraced(base, ups.TracedOptions{Tracer: tracer, UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewTokens(secretToken)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewAPI(Options{Catalog: v1Catalog(t, store), Profiles: store, Tokens: tok, Tracer: tracer, TraceUserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	return tracedAPI{handler: h, rec: rec}
}

// do sends one request with the token; header adds headers.
func (s tracedAPI) do(t *testing.T, method, target, body string, header ...string) int {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secretToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	s.handler.ServeHTTP(w, req)
	return w.Code
}

// spanText is everything a span holds that leaves the process: its name,
// attributes, status, events and links.
func spanText(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	b.WriteString(s.Name())
	for _, a := range s.Attributes() {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
	}
	if s.Status().Code != codes.Unset {
		fmt.Fprintf(&b, " status=%s:%q", s.Status().Code, s.Status().Description)
	}
	for _, e := range s.Events() {
		fmt.Fprintf(&b, " event=%s", e.Name)
		for _, a := range e.Attributes {
			fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
		}
	}
	for _, l := range s.Links() {
		for _, a := range l.Attributes {
			fmt.Fprintf(&b, " link %s=%s", a.Key, a.Value.Emit())
		}
	}
	for _, a := range s.Resource().Attributes() {
		fmt.Fprintf(&b, " resource %s=%s", a.Key, a.Value.Emit())
	}
	return b.String()
}

// attr returns the value of key on s, "" when it has none.
func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// tree draws the spans as parent > child lines, by span ID.
func tree(spans []sdktrace.ReadOnlySpan) []string {
	names := map[trace.SpanID]string{}
	for _, s := range spans {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	var lines []string
	for _, s := range spans {
		parent := "-"
		if s.Parent().IsValid() {
			parent = names[s.Parent().SpanID()]
			if parent == "" {
				parent = "remote"
			}
		}
		lines = append(lines, parent+" > "+s.Name())
	}
	slices.Sort(lines)
	return lines
}

const tracedDecide = `{"userId":"` + secretUser + `","userAttributes":{"plan":"` + secretAttr + `"},"decideOptions":["INCLUDE_REASONS"]}`

// A decide through the real handler makes the span tree request →
// decision → store calls, with their attributes and no user data.
func TestTracingSpanTreeWithoutUserData(t *testing.T) {
	s := newTracedAPI(t, false, sdktrace.AlwaysSample())
	if code := s.do(t, "POST", "/v1/decide?keys=new_search", tracedDecide); code != 200 {
		t.Fatalf("decide: %d", code)
	}
	spans := s.rec.Ended()
	want := []string{"- > decide", "decide > decision", "decision > store.lookup_assignment", "decision > store.save"}
	if got := tree(spans); !slices.Equal(got, want) {
		for _, sp := range spans {
			t.Log(spanText(sp))
		}
		t.Fatalf("span tree %q, want %q", got, want)
	}
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, sp := range spans {
		byName[sp.Name()] = sp
	}
	server, dec := byName["decide"], byName["decision"]
	if server.SpanKind() != trace.SpanKindServer {
		t.Errorf("request span kind %s, want server", server.SpanKind())
	}
	for key, want := range map[string]string{"http.request.method": "POST", "http.route": "/v1/decide", "http.response.status_code": "200"} {
		if got := attr(server, key); got != want {
			t.Errorf("request span %s = %q, want %q", key, got, want)
		}
	}
	for key, want := range map[string]string{
		"stickybucket.decision.kind": "flag", "stickybucket.decision.keys": `["new_search"]`, "stickybucket.decision.key_count": "1",
		"stickybucket.decision.options": `["INCLUDE_REASONS"]`, "stickybucket.decision.count": "1", "stickybucket.decision.profile": "read",
	} {
		if got := attr(dec, key); got != want {
			t.Errorf("decision span %s = %q, want %q", key, got, want)
		}
	}
	if got := attr(byName["store.save"], "stickybucket.store.op"); got != "save" {
		t.Errorf("store span op %q", got)
	}

	// More routes: one naming the user in its path, activate, a batch,
	// a lookup; then no span may hold a secret.
	if code := s.do(t, "GET", "/v1/profiles/"+secretUser, ""); code != 200 {
		t.Fatalf("profile: %d", code)
	}
	if code := s.do(t, "POST", "/v1/activate?type=experiment", `{"userId":"`+secretUser+`","userAttributes":{"plan":"`+secretAttr+`"}}`); code != 200 {
		t.Fatalf("activate: %d", code)
	}
	if code := s.do(t, "POST", "/v1/decide", tracedDecide); code != 200 {
		t.Fatalf("decide all: %d", code)
	}
	if code := s.do(t, "POST", "/v1/lookup", `{"userId":"`+secretUser+`"}`); code != 200 {
		t.Fatalf("lookup: %d", code)
	}
	if code := s.do(t, "POST", "/v1/batch", `{"operations":[{"method":"POST","url":"/v1/decide?keys=dark_mode","operationID":"1","body":`+tracedDecide+`,"headers":{"Content-Type":"application/json"}}]}`); code != 200 {
		t.Fatalf("batch: %d", code)
	}
	var routes []string
	for _, sp := range s.rec.Ended() {
		text := spanText(sp)
		for _, secret := range []string{secretUser, secretAttr, secretToken} {
			if strings.Contains(text, secret) {
				t.Errorf("a span holds %q: %s", secret, text)
			}
		}
		if sp.SpanKind() == trace.SpanKindServer {
			routes = append(routes, sp.Name()+" "+attr(sp, "http.route"))
		}
	}
	if want := []string{"decide /v1/decide", "profile_get /v1/profiles/{userId}", "activate /v1/activate", "decide /v1/decide", "lookup /v1/lookup", "decide /v1/decide", "batch /v1/batch"}; !slices.Equal(routes, want) {
		t.Errorf("request spans %q, want %q", routes, want)
	}
}

// With user_id on, decision and store spans carry the user ID, and still
// no attribute value or token.
func TestTracingUserIDWhenConfigured(t *testing.T) {
	s := newTracedAPI(t, true, sdktrace.AlwaysSample())
	if code := s.do(t, "POST", "/v1/decide?keys=new_search", tracedDecide); code != 200 {
		t.Fatalf("decide: %d", code)
	}
	withUser := 0
	for _, sp := range s.rec.Ended() {
		text := spanText(sp)
		if strings.Contains(text, secretAttr) || strings.Contains(text, secretToken) {
			t.Errorf("a span holds an attribute value or the token: %s", text)
		}
		if attr(sp, "enduser.id") == secretUser {
			withUser++
		}
		if sp.SpanKind() == trace.SpanKindServer && strings.Contains(text, secretUser) {
			t.Errorf("the request span holds the user ID: %s", text)
		}
	}
	if withUser != 3 {
		t.Errorf("%d spans with enduser.id, want 3 (decision, lookup, save)", withUser)
	}
}

// An incoming W3C traceparent is continued: the request span is its
// child, in its trace; a parent not sampled is followed.
func TestTracingContinuesTraceparent(t *testing.T) {
	s := newTracedAPI(t, false, sdktrace.ParentBased(sdktrace.NeverSample()))
	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if code := s.do(t, "POST", "/v1/decide?keys=new_search", tracedDecide, "traceparent", "00-"+traceID+"-"+parentID+"-01"); code != 200 {
		t.Fatalf("decide: %d", code)
	}
	spans := s.rec.Ended()
	if len(spans) != 4 {
		t.Fatalf("%d spans, want 4 (the parent was sampled)", len(spans))
	}
	for _, sp := range spans {
		if got := sp.SpanContext().TraceID().String(); got != traceID {
			t.Errorf("span %s in trace %s, want %s", sp.Name(), got, traceID)
		}
		if sp.Name() == "decide" && (sp.Parent().SpanID().String() != parentID || !sp.Parent().IsRemote()) {
			t.Errorf("request span's parent %s (remote %v), want %s", sp.Parent().SpanID(), sp.Parent().IsRemote(), parentID)
		}
	}
	if code := s.do(t, "POST", "/v1/decide?keys=new_search", tracedDecide, "traceparent", "00-"+traceID+"-"+parentID+"-00"); code != 200 {
		t.Fatalf("decide: %d", code)
	}
	if n := len(s.rec.Ended()); n != 4 {
		t.Errorf("%d spans after a request whose parent is not sampled, want still 4", n)
	}
	if code := s.do(t, "POST", "/v1/decide?keys=new_search", tracedDecide); code != 200 {
		t.Fatalf("decide: %d", code)
	}
	if n := len(s.rec.Ended()); n != 4 {
		t.Errorf("%d spans after a request without a parent under a rate of 0, want still 4", n)
	}
}

// The catch-alls are traced under their names, without the path.
func TestTracingUnknownRoutes(t *testing.T) {
	s := newTracedAPI(t, false, sdktrace.AlwaysSample())
	if code := s.do(t, "GET", "/v1/"+secretUser, ""); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
	if code := s.do(t, "PUT", "/v1/decide", ""); code != 405 {
		t.Fatalf("PUT decide: %d", code)
	}
	if code := s.do(t, "BREW", "/v1/decide", ""); code != 405 {
		t.Fatalf("BREW decide: %d", code)
	}
	var got []string
	for _, sp := range s.rec.Ended() {
		got = append(got, spanText(sp))
	}
	want := []string{
		"not_found http.request.method=GET http.response.status_code=404",
		"method_not_allowed http.route=/v1/decide http.request.method=PUT http.response.status_code=405",
		"method_not_allowed http.route=/v1/decide http.request.method=_OTHER http.response.status_code=405",
	}
	for i := range got {
		got[i] = got[i][:strings.Index(got[i], " resource")]
	}
	if !slices.Equal(got, want) {
		t.Errorf("spans\n%q\nwant\n%q", got, want)
	}
}

// With events on, decide drops ENABLED_FLAGS_ONLY from the options it
// passes and filters itself: the span still names the option.
func TestTracingDecisionNamesEnabledFlagsOnly(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	a := &api{opts: Options{Tracer: tp.Tracer("test")}}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "request")
	if !a.decisionTraced(ctx) {
		t.Fatal("a decision under a recording span is not traced")
	}
	_, span := a.startDecision(ctx, "flag", nil, []decision.Option{decision.IncludeReasons}, true, "u1")
	endDecision(span, 2, decision.ProfileUnused, nil)
	parent.End()
	got := spanText(rec.Ended()[0])
	if want := `decision stickybucket.decision.kind=flag stickybucket.decision.all_flags=true stickybucket.decision.options=["INCLUDE_REASONS","ENABLED_FLAGS_ONLY"] stickybucket.decision.count=2 stickybucket.decision.profile=unused`; !strings.HasPrefix(got, want) {
		t.Errorf("span\n%s\nwant\n%s", got, want)
	}
	if (&api{}).decisionTraced(ctx) {
		t.Error("a decision is traced without a tracer")
	}
	if a.decisionTraced(context.Background()) {
		t.Error("a decision outside a recording span is traced")
	}
}

// downStore fails every call as a store that cannot be reached does,
// naming the user in its errors.
type downStore struct{}

func (downStore) Lookup(_ context.Context, userID string) (ups.Profile, error) {
	return ups.Profile{}, fmt.Errorf("store: lookup user %q: %w", userID, ups.ErrUnavailable)
}

func (downStore) Save(_ context.Context, p ups.Profile) error {
	return fmt.Errorf("store: save user %q: %w", p.UserID, ups.ErrUnavailable)
}

// A decision made without the profile says why on its span, the store
// span the kind of error, and neither the error's message (it names the
// user).
func TestTracingDecisionWithoutProfile(t *testing.T) {
	s := newTracedAPIOver(t, false, sdktrace.AlwaysSample(), downStore{})
	if code := s.do(t, "POST", "/v1/decide?keys=new_search", tracedDecide); code != 200 {
		t.Fatalf("decide: %d", code)
	}
	var dec, store sdktrace.ReadOnlySpan
	for _, sp := range s.rec.Ended() {
		if text := spanText(sp); strings.Contains(text, secretUser) {
			t.Errorf("a span holds the user ID: %s", text)
		}
		switch {
		case sp.Name() == "decision":
			dec = sp
		case strings.HasPrefix(sp.Name(), "store."):
			store = sp
		}
	}
	if dec == nil || store == nil {
		t.Fatalf("no decision or store span among %d", len(s.rec.Ended()))
	}
	if got := attr(dec, "stickybucket.decision.profile") + " " + attr(dec, "stickybucket.decision.without_profile_reason"); got != "unread store_error" {
		t.Errorf("decision span: profile and reason %q, want unread store_error", got)
	}
	if got := attr(store, "error.type"); got != "unavailable" || store.Status().Code != codes.Error {
		t.Errorf("store span: error.type %q, status %v", got, store.Status())
	}
}
