package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/ups"
)

// collector is an OTLP/HTTP trace endpoint on loopback that keeps what
// it is sent.
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	requests []collectorRequest
}

type collectorRequest struct {
	path, contentType string
	apiKey            string // the X-Api-Key header
	body              []byte
	spans             []string // names
	service           string   // service.name of the first resource
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := collectorRequest{path: r.URL.Path, contentType: r.Header.Get("Content-Type"), apiKey: r.Header.Get("X-Api-Key"), body: body}
		var export collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &export); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.spans, req.service = spanNames(&export)
		c.mu.Lock()
		c.requests = append(c.requests, req)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) got() []collectorRequest {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// spanNames lists the spans of an export, sorted, and its service name.
func spanNames(export *collectortrace.ExportTraceServiceRequest) (names []string, service string) {
	for _, rs := range export.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" && service == "" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				names = append(names, s.GetName())
			}
		}
	}
	slices.Sort(names)
	return names, service
}

// hasTraced reports whether the stack under top has a Traced layer.
func hasTraced(top ups.Service) bool {
	for s := top; s != nil; {
		if _, ok := s.(*ups.Traced); ok {
			return true
		}
		u, ok := s.(interface{ Unwrap() ups.Service })
		if !ok {
			return false
		}
		s = u.Unwrap()
	}
	return false
}

// Off by default: no provider, no store layer, no span.
func TestTracingOffByDefault(t *testing.T) {
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	svc := startService(t, serviceConfig(t, df.URL), ServiceOptions{})
	if svc.tracing != nil || svc.tracer() != nil {
		t.Error("tracing off built a tracer provider")
	}
	if hasTraced(svc.stack.Profiles) {
		t.Error("tracing off stacked a Traced layer")
	}
}

// With tracing on over OTLP/HTTP, a decide's spans reach the collector
// when the service closes (the batch's delay is an hour: only the
// shutdown's flush sends them), as protobuf, without the user ID, with
// the headers of OTEL_EXPORTER_OTLP_HEADERS.
func TestTracingSendsSpansOverOTLPHTTPOnClose(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=collector-key")
	col := newCollector(t)
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	cfg := serviceConfig(t, df.URL)
	cfg.Tracing = config.Tracing{Enabled: true, Protocol: config.TracingHTTP, Endpoint: col.URL, SampleRate: 1, ServiceName: "sb-test", Environment: "test"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	svc := startService(t, cfg, ServiceOptions{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if !hasTraced(svc.stack.Profiles) {
		t.Error("tracing on stacked no Traced layer")
	}
	const user = "user-5ecret-0042"
	res, err := http.Post("http://"+svc.Addrs()[0].String()+"/v1/decide?keys=new_search", "application/json",
		strings.NewReader(`{"userId":"`+user+`","userAttributes":{"plan":"attr-5ecret"}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("decide: %d", res.StatusCode)
	}
	if n := len(col.got()); n != 0 {
		t.Fatalf("%d exports before Close, want none (the batch waits an hour)", n)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	got := col.got()
	if len(got) != 1 {
		t.Fatalf("%d exports after Close, want 1", len(got))
	}
	r := got[0]
	if r.path != "/v1/traces" || r.contentType != "application/x-protobuf" || len(r.body) == 0 {
		t.Errorf("export to %s as %q, %d bytes; want /v1/traces, protobuf, not empty", r.path, r.contentType, len(r.body))
	}
	if want := []string{"decide", "decision", "store.lookup_assignment", "store.save"}; !slices.Equal(r.spans, want) {
		t.Errorf("spans %q, want %q", r.spans, want)
	}
	if r.apiKey != "collector-key" {
		t.Errorf("X-Api-Key %q, want OTEL_EXPORTER_OTLP_HEADERS's", r.apiKey)
	}
	if r.service != "sb-test" {
		t.Errorf("service.name %q, want sb-test", r.service)
	}
	for _, secret := range []string{user, "attr-5ecret"} {
		if bytes.Contains(r.body, []byte(secret)) {
			t.Errorf("the export holds %q", secret)
		}
	}
	if !strings.Contains(logs.String(), "tracing stopped; spans sent") {
		t.Errorf("no log of the spans sent:\n%s", logs.String())
	}
}

// sample_rate 0 records no new trace; 1 records every one.
func TestTracingSampleRate(t *testing.T) {
	for _, c := range []struct {
		rate float64
		want int
	}{{0, 0}, {1, 10}} {
		exp := tracetest.NewInMemoryExporter()
		tp := newTracerProvider(config.Tracing{SampleRate: c.rate, ServiceName: "sb"}, exp)
		tr := tp.Tracer("test")
		for range 10 {
			_, span := tr.Start(context.Background(), "request")
			span.End()
		}
		if err := tp.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := len(exp.GetSpans()); got != c.want {
			t.Errorf("sample rate %g: %d spans of 10, want %d", c.rate, got, c.want)
		}
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// Shutdown honours its context: a collector that never answers costs
// the shutdown's deadline, not the exporter's minute of retries.
func TestTracingShutdownHonoursItsContext(t *testing.T) {
	gate := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-gate:
		case <-r.Context().Done():
		}
	}))
	defer hung.Close()
	defer close(gate)
	cfg := config.Tracing{Protocol: config.TracingHTTP, Endpoint: hung.URL, SampleRate: 1}
	exp, err := newExporter(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tp := newTracerProvider(cfg, exp)
	_, span := tp.Tracer("test").Start(context.Background(), "request")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = tp.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown against a hung collector = %v, want the deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %s past a deadline of 200ms", d)
	}
}

// grpcCollector is an OTLP/gRPC trace service that keeps span names.
type grpcCollector struct {
	collectortrace.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []string
}

func (g *grpcCollector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	names, _ := spanNames(req)
	g.mu.Lock()
	g.spans = append(g.spans, names...)
	g.mu.Unlock()
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// The grpc protocol sends to an OTLP/gRPC collector (plain, for http://).
func TestTracingOverGRPC(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	col := &grpcCollector{}
	collectortrace.RegisterTraceServiceServer(srv, col)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	cfg := config.Tracing{Protocol: config.TracingGRPC, Endpoint: "http://" + lis.Addr().String(), SampleRate: 1}
	exp, err := newExporter(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	tp := newTracerProvider(cfg, exp)
	_, span := tp.Tracer("test").Start(context.Background(), "request")
	span.End()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	if !slices.Equal(col.spans, []string{"request"}) {
		t.Errorf("the gRPC collector got %q, want [request]", col.spans)
	}
}

// The Traced layer sits just above the store's metrics (Observed): under
// the breaker, the async saver and the cache, so it sees the calls that
// reach the store.
func TestTracedLayerAboveObserved(t *testing.T) {
	cfg := parse(t, memoryEnv+"store: {kind: memory, saves: {mode: async}, cache: {size: 100}}\n")
	st, err := Open(context.Background(), cfg, Options{
		Log: slog.New(slog.DiscardHandler), Tracer: noop.NewTracerProvider().Tracer("test"),
		ObserveStore: func(string, time.Duration, error) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	var layers []string
	for s := st.Profiles; s != nil; {
		layers = append(layers, fmt.Sprintf("%T", s))
		u, ok := s.(interface{ Unwrap() ups.Service })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	want := []string{"*ups.Cache", "*ups.AsyncSaver", "*ups.Traced", "*ups.Observed", "*ups.Memory"}
	if !slices.Equal(layers, want) {
		t.Errorf("layers %q, want %q", layers, want)
	}
}
