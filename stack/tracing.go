package stack

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/internal/buildinfo"
)

// tracerName names the instrumentation of every span.
const tracerName = "github.com/stickybucket/stickybucket"

// newExporter builds the OTLP exporter cfg names. It connects lazily:
// a collector that is down costs dropped spans, never a failed start.
// What the configuration does not set (headers such as a collector's API
// key, a CA certificate, compression, the export timeout) the exporter
// takes from OpenTelemetry's OTEL_EXPORTER_OTLP_* variables.
func newExporter(ctx context.Context, cfg config.Tracing) (sdktrace.SpanExporter, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing.endpoint: %w", err)
	}
	switch cfg.Protocol {
	case config.TracingGRPC:
		// The scheme says plain text (http) or TLS (https), over an
		// OTEL_EXPORTER_OTLP_INSECURE of the environment.
		return otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(u.String()))
	default:
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/traces"
		}
		return otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	}
}

// newTracerProvider builds the tracer provider of cfg over exp: spans
// batched for export, new traces sampled at cfg.SampleRate and the rest
// as their parent says, every span naming the service, its version and
// environment.
func newTracerProvider(cfg config.Tracing, exp sdktrace.SpanExporter) *sdktrace.TracerProvider {
	attrs := []attribute.KeyValue{
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", buildinfo.Version()),
	}
	if cfg.Environment != "" {
		attrs = append(attrs, attribute.String("deployment.environment.name", cfg.Environment))
	}
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRate))),
		sdktrace.WithResource(resource.NewSchemaless(attrs...)),
	)
}

// startTracing builds the tracer provider when tracing is on; Close sends
// the spans not yet sent and stops it, within shutdown_timeout.
func (s *Service) startTracing(ctx context.Context) error {
	cfg := s.cfg.Tracing
	if !cfg.Enabled {
		return nil
	}
	exp, err := newExporter(ctx, cfg)
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	tp := newTracerProvider(cfg, exp)
	s.tracing = tp
	s.down.add(func() error {
		closeCtx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout.Std())
		defer cancel()
		start := time.Now()
		if err := tp.Shutdown(closeCtx); err != nil {
			return fmt.Errorf("tracing: spans not all sent to %s: %w", cfg.Endpoint, err)
		}
		s.log.Info("tracing stopped; spans sent", "took", time.Since(start).Round(time.Millisecond))
		return nil
	})
	return nil
}

// tracer returns the tracer of the service's spans; nil when tracing is
// off, so nothing is wrapped and nothing is paid.
func (s *Service) tracer() trace.Tracer {
	if s.tracing == nil {
		return nil
	}
	return s.tracing.Tracer(tracerName, trace.WithInstrumentationVersion(buildinfo.Version()))
}

// tracingSummary says where spans go, for the start-up log.
func (s *Service) tracingSummary() string {
	if s.tracing == nil {
		return "off"
	}
	c := s.cfg.Tracing
	return fmt.Sprintf("%s %s, sample rate %g, user IDs %v", c.Protocol, c.Endpoint, c.SampleRate, c.UserID)
}
