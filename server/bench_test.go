package server

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkDecideHandler measures POST /v1/decide for one flag through the
// API handler, without the network: request parsing, the decision on the
// in-memory store, and the answer.
func BenchmarkDecideHandler(b *testing.B) {
	s := newTestService(&testing.T{}, v1)
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = `{"userId":"user-` + strconv.Itoa(i) + `","userAttributes":{"country":"de","plan":"pro","app_version":"3.2.0"}}`
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/decide?keys=new_search", strings.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		i++
	}
}
