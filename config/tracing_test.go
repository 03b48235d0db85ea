package config

import (
	"strings"
	"testing"
)

// Tracing is off by default, over HTTP to a local collector, every trace
// sampled, and never records a user ID.
func TestTracingDefaults(t *testing.T) {
	cfg, err := Parse([]byte(eventsBase), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Tracing{Endpoint: "http://localhost:4318", Protocol: "http", SampleRate: 1, ServiceName: "stickybucket"}
	if cfg.Tracing != want {
		t.Errorf("tracing defaults: %+v, want %+v", cfg.Tracing, want)
	}
	cfg, err = Parse([]byte(eventsBase+"tracing: {enabled: true, protocol: grpc, sample_rate: 0, service_name: sb, environment: prod, user_id: true}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want = Tracing{Enabled: true, Endpoint: "http://localhost:4317", Protocol: "grpc", SampleRate: 0, ServiceName: "sb", Environment: "prod", UserID: true}
	if cfg.Tracing != want {
		t.Errorf("tracing: %+v, want %+v (grpc's default port, a rate of 0 kept)", cfg.Tracing, want)
	}
}

func TestTracingEnv(t *testing.T) {
	env := map[string]string{
		"STICKYBUCKET_TRACING_ENABLED": "true", "STICKYBUCKET_TRACING_ENDPOINT": "https://otel.example:4318/traces",
		"STICKYBUCKET_TRACING_PROTOCOL": "HTTP", "STICKYBUCKET_TRACING_SAMPLE_RATE": "0.25", "STICKYBUCKET_TRACING_ENVIRONMENT": "staging",
		"STICKYBUCKET_TRACING_SERVICE_NAME": "sb-eu", "STICKYBUCKET_TRACING_USER_ID": "true",
	}
	cfg, err := Parse([]byte(eventsBase), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := Tracing{Enabled: true, Endpoint: "https://otel.example:4318/traces", Protocol: "http", SampleRate: 0.25, ServiceName: "sb-eu", Environment: "staging", UserID: true}
	if cfg.Tracing != want {
		t.Errorf("tracing from the environment: %+v, want %+v", cfg.Tracing, want)
	}
	_, err = Parse([]byte(eventsBase), func(k string) (string, bool) {
		return "2", k == "STICKYBUCKET_TRACING_SAMPLE_RATE"
	})
	if err == nil || !strings.Contains(err.Error(), "tracing.sample_rate: 2 is outside 0…1 (set by STICKYBUCKET_TRACING_SAMPLE_RATE)") {
		t.Errorf("a rate of 2 from the environment: %v", err)
	}
	_, err = Parse([]byte(eventsBase), func(k string) (string, bool) {
		return "perhaps", k == "STICKYBUCKET_TRACING_USER_ID"
	})
	if err == nil || !strings.Contains(err.Error(), "STICKYBUCKET_TRACING_USER_ID") {
		t.Errorf("user_id perhaps from the environment: %v", err)
	}
}

func TestTracingValidation(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"  protocol: zipkin\n", "tracing.protocol"},
		{"  endpoint: localhost:4318\n", "tracing.endpoint"},
		{"  endpoint: ftp://collector:21\n", "tracing.endpoint"},
		{"  protocol: grpc\n  endpoint: http://collector:4317/v1/traces\n", "tracing.endpoint: \"http://collector:4317/v1/traces\" has a path"},
		{"  sample_rate: 1.5\n", "tracing.sample_rate: 1.5 is outside 0…1"},
		{"  sample_rate: -0.1\n", "tracing.sample_rate"},
		{"  sample_rate: .nan\n", "tracing.sample_rate"},
		{"  user_ids: true\n", "user_ids"},
	} {
		_, err := Parse([]byte(eventsBase+"tracing:\n"+c.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one naming %s", c.yaml, err, c.want)
		}
	}
}
