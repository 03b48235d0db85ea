package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// serve --events-url sends the impressions of its decisions there; when
// it stops, every queued event has been sent before it exits 0.
func TestServeEventsURL(t *testing.T) {
	var (
		mu       sync.Mutex
		visitors []map[string]any
	)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b struct {
			ProjectID string           `json:"project_id"`
			Visitors  []map[string]any `json:"visitors"`
		}
		if err := json.Unmarshal(body, &b); err != nil || b.ProjectID != "12002" {
			http.Error(w, "bad batch", http.StatusBadRequest)
			return
		}
		mu.Lock()
		visitors = append(visitors, b.Visitors...)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer sink.Close()
	api, _, stop := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "off",
		"--datafile", "k1=../../examples/datafile-v1.json", "--events-url", sink.URL)
	users := []string{"alice", "bob", "carol"}
	for _, u := range users {
		decideVia(t, api, u, "new_search")
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	var got []string
	for _, v := range visitors {
		got = append(got, v["visitor_id"].(string))
	}
	if len(got) != len(users) {
		t.Fatalf("impressions for %v, want one per decision of %v", got, users)
	}
	if !strings.Contains(strings.Join(got, ","), "alice") {
		t.Errorf("visitors %v", got)
	}
}
