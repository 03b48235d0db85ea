package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/stickybucket/stickybucket/events"
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

// BenchmarkDecideHandlerEvents is BenchmarkDecideHandler with events on:
// each decision queues its impression for a local endpoint that discards
// them. The request only queues; the time and allocations per operation
// include the processor's goroutines encoding and sending the batches
// (and the endpoint reading them), on the same cores.
func BenchmarkDecideHandlerEvents(b *testing.B) {
	discard := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(discard.Close) // after the processor's Close, registered later
	s := newEventServiceWith(b, nil, events.Options{BatchSize: 100, QueueSize: 100_000, FlushInterval: time.Second}, discard.URL)
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
	b.StopTimer()
	if st := s.proc.Stats(); st.Queued == 0 {
		b.Fatalf("no event queued: %+v", st)
	}
}

// BenchmarkDecideHandlerTraced is BenchmarkDecideHandler with tracing on,
// as serve builds it but for the exporter, which discards: every request
// sampled (a request span, a decision span and the store calls' spans,
// batched for export), or none (sample_rate 0: the spans are made but do
// not record).
func BenchmarkDecideHandlerTraced(b *testing.B) {
	for _, c := range []struct {
		name    string
		sampler sdktrace.Sampler
	}{{"sampled", sdktrace.AlwaysSample()}, {"rate0", sdktrace.ParentBased(sdktrace.NeverSample())}} {
		b.Run(c.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(c.sampler), sdktrace.WithBatcher(tracetest.NewNoopExporter()))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			s := newTestServiceWith(&testing.T{}, v1, Options{Tracer: tp.Tracer("stickybucket")})
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
		})
	}
}
