package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSinkCountsPerPath(t *testing.T) {
	s := &sink{byPath: map[string]*counts{}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	batch := `{"visitors":[{"attributes":[{"entity_id":"9","key":"plan"}],"snapshots":[{"events":[{"entity_id":"1","key":"campaign_activated","uuid":"a"},{"entity_id":"2","key":"buy","uuid":"b"}]}]}]}`
	for _, path := range []string{"/a", "/a", "/b"} {
		res, err := http.Post(srv.URL+path, "application/json", strings.NewReader(batch))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: %d, want 204", path, res.StatusCode)
		}
	}
	res, err := http.Get(srv.URL + "/a")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", res.StatusCode)
	}
	if a, b := *s.byPath["/a"], *s.byPath["/b"]; a.Requests != 2 || a.Events != 4 || b.Requests != 1 || b.Events != 2 {
		t.Errorf("counts /a %+v, /b %+v: want 2 requests and 4 events, 1 and 2", a, b)
	}
}
