package config

import (
	"math"
	"net/url"
)

// Tracing protocols: how spans reach the OpenTelemetry collector.
const (
	TracingHTTP = "http" // OTLP over HTTP, protobuf (port 4318 by convention)
	TracingGRPC = "grpc" // OTLP over gRPC (port 4317 by convention)
)

// Tracing configures the OpenTelemetry spans of `serve`: one per request,
// one per decision, one per store call, sent by OTLP to a collector.
type Tracing struct {
	// Enabled turns tracing on. Off by default: no tracer is built and
	// requests pay nothing for it.
	Enabled bool `yaml:"enabled"`
	// Endpoint is the collector's URL, http:// (plain) or https:// (TLS);
	// for the http protocol a URL without a path gets /v1/traces. Default
	// http://localhost:4318 for http, http://localhost:4317 for grpc.
	Endpoint string `yaml:"endpoint"`
	// Protocol is http (default) or grpc.
	Protocol string `yaml:"protocol"`
	// SampleRate is the share of new traces recorded, 0…1 (default 1); a
	// request that carries a W3C traceparent follows its sampled flag.
	SampleRate float64 `yaml:"sample_rate"`
	// ServiceName is the service.name of every span; default
	// stickybucket.
	ServiceName string `yaml:"service_name"`
	// Environment, when set, is the deployment.environment.name of every
	// span.
	Environment string `yaml:"environment"`
	// UserID records the user ID on decision and store spans (the
	// attribute enduser.id), and store error messages, which name the
	// user. Off by default: the collector and whoever reads it then
	// never see a user ID.
	UserID bool `yaml:"user_id"`
}

// defaults sets the defaults of the keys, before the file is read.
func (t *Tracing) defaults() {
	t.Protocol, t.SampleRate, t.ServiceName = TracingHTTP, 1, "stickybucket"
}

// endpointDefault sets the endpoint left out, after the file is read: it
// depends on the protocol.
func (t *Tracing) endpointDefault() {
	if t.Endpoint != "" {
		return
	}
	t.Endpoint = "http://localhost:4318"
	if t.Protocol == TracingGRPC {
		t.Endpoint = "http://localhost:4317"
	}
}

func (t Tracing) validate(p *problems) {
	switch t.Protocol {
	case TracingHTTP, TracingGRPC:
	default:
		p.add("tracing.protocol", "%q is neither http nor grpc", t.Protocol)
	}
	u, err := url.Parse(t.Endpoint)
	switch {
	case t.Endpoint == "": // the protocol's default, set by Parse
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.add("tracing.endpoint", "%q is not an http(s) URL such as http://otel-collector:4318", t.Endpoint)
	case t.Protocol == TracingGRPC && u.Path != "" && u.Path != "/":
		p.add("tracing.endpoint", "%q has a path, which gRPC does not use: give scheme, host and port", t.Endpoint)
	}
	if r := t.SampleRate; math.IsNaN(r) || r < 0 || r > 1 {
		p.add("tracing.sample_rate", "%v is outside 0…1", r)
	}
}
