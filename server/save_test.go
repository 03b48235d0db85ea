package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

// TestSaveReplacesTheProfile: POST /v1/save sets the user's profile to
// the one posted, as Agent's does (its profile services store profiles
// whole): an assignment the body does not hold is gone, and a body
// without experimentBucketMap (Agent's acceptance test
// test_ups__save_with_invalid_payload misspells it) empties the profile.
// Saves used to be merged into the stored profile, so that test failed
// whenever an earlier test had saved for the same user.
func TestSaveReplacesTheProfile(t *testing.T) {
	s := newTestService(t, v1)
	lookup := func() string {
		t.Helper()
		r := s.do(t, "POST", "/v1/lookup", `{"userId":"dave"}`)
		if r.status != 200 {
			t.Fatalf("lookup: %d %s", r.status, r.body)
		}
		return strings.TrimSpace(string(r.body))
	}
	save := func(body string) {
		t.Helper()
		if r := s.do(t, "POST", "/v1/save", body); r.status != 200 {
			t.Fatalf("save %s: %d %s", body, r.status, r.body)
		}
	}
	save(`{"userId":"dave","experimentBucketMap":{"3003":{"variation_id":"4006"},"3001":{"variation_id":"4001"}}}`)
	save(`{"userId":"dave","experimentBucketMap":{"3001":{"variation_id":"4002"}}}`)
	if got, want := lookup(), `{"userId":"dave","experimentBucketMap":{"3001":{"variation_id":"4002"}}}`; got != want {
		t.Errorf("after saving a profile of 3001 alone: lookup %s, want %s", got, want)
	}
	save(`{"userId":"dave","experimentBucketMaps":{"3003":{"variation_id":"4006"}}}`)
	if got, want := lookup(), `{"userId":"dave","experimentBucketMap":{}}`; got != want {
		t.Errorf("after saving a body without experimentBucketMap: lookup %s, want %s", got, want)
	}
	// Bad input still writes nothing: the profile is replaced only once
	// every entry is valid.
	save(`{"userId":"dave","experimentBucketMap":{"3003":{"variation_id":"4006"}}}`)
	if r := s.do(t, "POST", "/v1/save", `{"userId":"dave","experimentBucketMap":{"3001":{"variation_id":""}}}`); r.status != 400 {
		t.Fatalf("invalid save: %d %s", r.status, r.body)
	}
	if got, want := lookup(), `{"userId":"dave","experimentBucketMap":{"3003":{"variation_id":"4006"}}}`; got != want {
		t.Errorf("after a refused save: lookup %s, want %s", got, want)
	}
}

// noDeleter is a store that cannot erase users.
type noDeleter struct{ ups.Service }

// TestSaveWithoutDeleter: a store that cannot delete cannot have a profile
// replaced; /v1/save says so rather than merge.
func TestSaveWithoutDeleter(t *testing.T) {
	s := newTestService(t, v1)
	h, err := NewAPI(Options{Catalog: catalog{}, Profiles: noDeleter{s.store}})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/v1/save", strings.NewReader(`{"userId":"dave","experimentBucketMap":{"3001":{"variation_id":"4002"}}}`))
	req.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed || !strings.Contains(rec.Body.String(), "cannot replace a profile") {
		t.Errorf("save on a store without Delete: %d %s", rec.Code, rec.Body)
	}
}
