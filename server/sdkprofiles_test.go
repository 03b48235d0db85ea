package server

import (
	"context"
	"strings"
	"testing"
)

func TestSDKLookupAndSave(t *testing.T) {
	s := newTestService(t, v1)
	ctx := context.Background()

	// An unknown user: 200 and an empty map, by POST and by GET.
	for _, r := range []response{
		s.do(t, "POST", "/v1/ups/lookup", `{"user_id":"nobody"}`),
		s.do(t, "GET", "/v1/ups/lookup?user_id=nobody", ""),
	} {
		if r.status != 200 || string(r.body) != `{"user_id":"nobody","experiment_bucket_map":{}}`+"\n" {
			t.Fatalf("unknown user: %d %s", r.status, r.body)
		}
	}

	save := `{"user_id":"ana","experiment_bucket_map":{"3001":{"variation_id":"4001"},"3003":{"variation_id":"4005"}}}`
	r := s.do(t, "POST", "/v1/ups/save", save)
	if r.status != 200 || string(r.body) != `{"written":2,"unchanged":0,"lost":0}`+"\n" {
		t.Fatalf("save: %d %s", r.status, r.body)
	}
	want := save + "\n"
	if r := s.do(t, "POST", "/v1/ups/lookup", `{"user_id":"ana"}`); r.status != 200 || string(r.body) != want {
		t.Fatalf("lookup after save: %d %s, want %s", r.status, r.body, want)
	}
	if r := s.do(t, "GET", "/v1/ups/lookup?user_id=ana", ""); string(r.body) != want {
		t.Fatalf("GET lookup: %s", r.body)
	}

	// The SDK saves the whole profile again with one entry changed: one
	// write, the other entry untouched (its decision time kept).
	before, _, _ := s.store.LookupAssignment(ctx, "ana", "3003")
	r = s.do(t, "POST", "/v1/ups/save", `{"user_id":"ana","experiment_bucket_map":{"3001":{"variation_id":"4002"},"3003":{"variation_id":"4005"}}}`)
	if string(r.body) != `{"written":1,"unchanged":1,"lost":0}`+"\n" {
		t.Fatalf("changed save: %s", r.body)
	}
	after, _, _ := s.store.LookupAssignment(ctx, "ana", "3003")
	if !after.DecidedAt.Equal(before.DecidedAt) {
		t.Errorf("unchanged entry rewritten: decided %s, then %s", before.DecidedAt, after.DecidedAt)
	}
	// After a failed lookup the client asks for new entries only.
	r = s.do(t, "POST", "/v1/ups/save?only_new=true", `{"user_id":"ana","experiment_bucket_map":{"3001":{"variation_id":"guess"},"9":{"variation_id":"new"}}}`)
	if string(r.body) != `{"written":1,"unchanged":1,"lost":0}`+"\n" {
		t.Fatalf("only_new save: %s", r.body)
	}
	if a, _, _ := s.store.LookupAssignment(ctx, "ana", "3001"); a.VariationID != "4002" {
		t.Errorf("only_new overwrote 3001 with %q", a.VariationID)
	}

	// Erasure through /v1/profiles reaches the SDK routes.
	if r := s.do(t, "DELETE", "/v1/profiles/ana", ""); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	if r := s.do(t, "POST", "/v1/ups/lookup", `{"user_id":"ana"}`); string(r.body) != `{"user_id":"ana","experiment_bucket_map":{}}`+"\n" {
		t.Fatalf("lookup after delete: %s", r.body)
	}
}

// The decision routes and the SDK routes share the store: what /v1/decide
// assigned, an SDK reads.
func TestSDKLookupSeesDecisions(t *testing.T) {
	s := newTestService(t, v1)
	if r := s.do(t, "POST", "/v1/decide?keys=new_search", alice); r.status != 200 {
		t.Fatalf("decide: %d %s", r.status, r.body)
	}
	p, _ := s.store.Lookup(context.Background(), "alice")
	r := s.do(t, "POST", "/v1/ups/lookup", `{"user_id":"alice"}`)
	if r.status != 200 || !strings.Contains(string(r.body), `"variation_id":"`+p.Assignments["3003"].VariationID+`"`) {
		t.Fatalf("lookup: %s; store holds %v", r.body, p.Assignments)
	}
}

func TestSDKRoutesBadInput(t *testing.T) {
	s := newTestService(t, v1)
	for _, c := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/v1/ups/lookup", `{}`, 400, `missing "user_id"`},
		{"POST", "/v1/ups/lookup", `{"userId":"camel"}`, 400, `missing "user_id"`},
		{"GET", "/v1/ups/lookup", ``, 400, `missing "user_id"`},
		{"GET", "/v1/ups/lookup?user_id=%zz", ``, 400, `query string`},
		{"POST", "/v1/ups/lookup", `{"user_id":5}`, 400, `"user_id" must be a string`},
		{"POST", "/v1/ups/lookup", `{"user_id":`, 400, `invalid JSON`},
		{"POST", "/v1/ups/lookup", `[]`, 400, `must be a JSON object`},
		{"POST", "/v1/ups/save", `{"experiment_bucket_map":{}}`, 400, `missing "user_id"`},
		{"POST", "/v1/ups/save", `{"user_id":"u","experiment_bucket_map":{"1":{}}}`, 400, `experiment_bucket_map["1"] must be`},
		{"POST", "/v1/ups/save", `{"user_id":"u","experiment_bucket_map":{"1":{"variation_id":""}}}`, 400, `variation_id is empty`},
		{"POST", "/v1/ups/save", `{"user_id":"u","experiment_bucket_map":{"1":"2"}}`, 400, `"experiment_bucket_map" must be an object`},
		{"POST", "/v1/ups/save?only_new=maybe", `{"user_id":"u"}`, 400, `only_new must be true or false`},
		{"PUT", "/v1/ups/save", `{"user_id":"u"}`, 405, `use POST`},
		{"DELETE", "/v1/ups/lookup", ``, 405, `use GET, HEAD, POST`},
	} {
		r := s.do(t, c.method, c.path, c.body)
		msg, ok := r.json(t).(map[string]any)["error"].(string)
		if !ok {
			t.Errorf("%s %s: %s is not a JSON error", c.method, c.path, r.body)
		}
		if r.status != c.status || !strings.Contains(msg, c.msg) {
			t.Errorf("%s %s %s: %d %s; want %d with %q", c.method, c.path, c.body, r.status, r.body, c.status, c.msg)
		}
	}
	// Nothing of the bad saves was written.
	if p, _ := s.store.Lookup(context.Background(), "u"); !p.Empty() {
		t.Errorf("bad saves wrote %v", p.Assignments)
	}
}

func TestSDKRoutesNeedTheToken(t *testing.T) {
	const token = "0123456789abcdef0123"
	s := newTestService(t, v1, token)
	if r := s.do(t, "POST", "/v1/ups/lookup", `{"user_id":"u"}`); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
	if r := s.do(t, "POST", "/v1/ups/lookup", `{"user_id":"u"}`, "Authorization", "Bearer "+token); r.status != 200 {
		t.Fatalf("with token: %d %s", r.status, r.body)
	}
}
