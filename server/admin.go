package server

import (
	"context"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// AdminOptions configures NewAdmin.
type AdminOptions struct {
	// Gatherer is what /metrics exposes (the registry Metrics was
	// registered on). Required.
	Gatherer prometheus.Gatherer
	// Tokens, when not empty, are required on /metrics and /debug/pprof.
	Tokens Tokens
	// JWT, when set, also accepts bearer JWTs whose admin claim is true.
	JWT *JWTVerifier
	// Issuer, when set, answers POST /oauth/token with admin tokens.
	Issuer *TokenIssuer
	// Ready backs /ready, as in Options.
	Ready func(ctx context.Context) error
}

// NewAdmin returns the admin handler: /metrics (Prometheus), /health,
// /ready and /debug/pprof/. Serve it on its own listener, kept off the
// public network.
func NewAdmin(opts AdminOptions) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", requireAuth(opts.Tokens, opts.JWT, scopeAdmin, promhttp.HandlerFor(opts.Gatherer, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /health", health)
	mux.HandleFunc("GET /ready", readiness(opts.Ready))
	debug := http.NewServeMux()
	debug.HandleFunc("/debug/pprof/", pprof.Index)
	debug.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	debug.HandleFunc("/debug/pprof/profile", pprof.Profile)
	debug.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	debug.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/pprof/", requireAuth(opts.Tokens, opts.JWT, scopeAdmin, debug))
	if opts.Issuer != nil {
		mux.Handle("POST /oauth/token", opts.Issuer)
	}
	mux.HandleFunc("/", notFound)
	return mux
}
