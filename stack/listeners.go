package stack

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/server"
)

// serverTokens reads the API's and the admin listener's bearer tokens, and
// refuses an address beyond loopback without tokens unless
// allow_unauthenticated says so.
func serverTokens(cfg config.Server) (api, admin server.Tokens, err error) {
	api, err = server.NewTokens(cfg.Tokens...)
	if err != nil {
		return server.Tokens{}, server.Tokens{}, fmt.Errorf("server.tokens: %w", err)
	}
	admin, err = server.NewTokens(cfg.AdminTokens...)
	if err != nil {
		return server.Tokens{}, server.Tokens{}, fmt.Errorf("server.admin_tokens: %w", err)
	}
	// A listener taking JWTs is authenticated, tokens or not.
	if err := server.CheckExposure(cfg.Listen, api, cfg.AllowUnauthenticated || cfg.Auth.Enabled()); err != nil {
		return server.Tokens{}, server.Tokens{}, fmt.Errorf("server.listen: %w", err)
	}
	if cfg.AdminListen != config.AdminOff {
		if err := server.CheckExposure(cfg.AdminListen, admin, cfg.AllowUnauthenticated || cfg.AdminAuth.Enabled()); err != nil {
			return server.Tokens{}, server.Tokens{}, fmt.Errorf("server.admin_listen: %w", err)
		}
	}
	return api, admin, nil
}

// listenerAuth is what a listener accepts beyond its static tokens.
type listenerAuth struct {
	jwt    *server.JWTVerifier
	issuer *server.TokenIssuer
}

// serverAuth builds the JWT verifier and token issuer a listener's auth
// section asks for (none if it asks for none); with a JWKS URL the key set
// is fetched before it returns. key names the section in errors.
func serverAuth(ctx context.Context, key string, a config.Auth, admin bool, log *slog.Logger) (listenerAuth, error) {
	if !a.Enabled() {
		return listenerAuth{}, nil
	}
	secrets, err := a.DecodedSecrets()
	if err != nil {
		return listenerAuth{}, fmt.Errorf("%s: %w", key, err)
	}
	v, err := server.NewJWTVerifier(ctx, server.JWTOptions{
		HMACSecrets: secrets, JWKSURL: a.JWKSURL, Log: log,
		JWKSUpdateInterval: a.JWKSUpdateInterval.Std(), JWKSMinRefreshInterval: a.JWKSMinRefreshInterval.Std(),
	})
	if err != nil {
		return listenerAuth{}, fmt.Errorf("%s: %w", key, err)
	}
	out := listenerAuth{jwt: v}
	if len(a.Clients) > 0 {
		clients := make([]server.OAuthClient, 0, len(a.Clients))
		for i, c := range a.Clients {
			hash, err := base64.StdEncoding.DecodeString(c.SecretHash)
			if err != nil {
				v.Close()
				return listenerAuth{}, fmt.Errorf("%s.clients[%d].secret_hash: %w", key, i, err)
			}
			clients = append(clients, server.OAuthClient{ID: c.ID, SecretHash: hash, SDKKeys: c.SDKKeys})
		}
		out.issuer, err = server.NewTokenIssuer(server.IssuerOptions{Clients: clients, Secret: secrets[0], TTL: a.TTL.Std(), Admin: admin})
		if err != nil {
			v.Close()
			return listenerAuth{}, fmt.Errorf("%s: %w", key, err)
		}
	}
	return out, nil
}

// startAuth builds both listeners' auth, with the metrics of their key
// sets' fetches in reg; Close stops the JWKS refreshes.
func (s *Service) startAuth(ctx context.Context, reg prometheus.Registerer) (api, admin listenerAuth, err error) {
	api, err = serverAuth(ctx, "server.auth", s.cfg.Server.Auth, false, s.log)
	if err != nil {
		return listenerAuth{}, listenerAuth{}, err
	}
	s.down.add(func() error { api.jwt.Close(); return nil })
	if err := registerJWKS(reg, "api", api.jwt); err != nil {
		return listenerAuth{}, listenerAuth{}, err
	}
	if s.cfg.Server.AdminListen == config.AdminOff {
		return api, listenerAuth{}, nil
	}
	admin, err = serverAuth(ctx, "server.admin_auth", s.cfg.Server.AdminAuth, true, s.log)
	if err != nil {
		return listenerAuth{}, listenerAuth{}, err
	}
	s.down.add(func() error { admin.jwt.Close(); return nil })
	if err := registerJWKS(reg, "admin", admin.jwt); err != nil {
		return listenerAuth{}, listenerAuth{}, err
	}
	return api, admin, nil
}

// registerJWKS exposes the fetches of v's key set, labelled with the
// listener, when it has one (a JWKS URL).
func registerJWKS(reg prometheus.Registerer, listener string, v *server.JWTVerifier) error {
	if _, ok := v.JWKSStats(); !ok {
		return nil
	}
	labels := prometheus.Labels{"listener": listener}
	stat := func(f func(server.JWKSStats) uint64) func() float64 {
		return func() float64 { st, _ := v.JWKSStats(); return float64(f(st)) }
	}
	return errors.Join(
		reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stickybucket_jwks_fetches_total",
			Help: "Fetches of a JWKS (auth.jwks_url) that got an answer, by listener.", ConstLabels: labels},
			stat(func(st server.JWKSStats) uint64 { return st.Fetches }))),
		reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "stickybucket_jwks_refresh_failures_total",
			Help: "JWKS refreshes that failed (no answer, an error status, a set that cannot be used; the keys fetched last are kept), by listener.", ConstLabels: labels},
			stat(func(st server.JWKSStats) uint64 { return st.Failures }))),
	)
}

// listen builds the API over the stack and the datafiles (with the
// notification stream if on, its streams ended first on shutdown),
// unless
// admin_listen is off the admin handler (metrics from reg, readiness,
// pprof), unless webhook.listen is off the webhook's, and binds their
// listeners.
func (s *Service) listen(apiTokens, adminTokens server.Tokens, apiAuth, adminAuth listenerAuth, reg prometheus.Gatherer, metrics *server.Metrics) error {
	sdk, err := s.stack.SDKProfiles()
	if err != nil {
		return err
	}
	cfg := s.cfg.Server
	notes := s.notes
	api, err := server.NewAPI(server.Options{
		Catalog: catalog{s.set}, Profiles: s.stack.Profiles, SDKProfiles: sdk, Tokens: apiTokens,
		JWT: apiAuth.jwt, Issuer: apiAuth.issuer,
		MaxBodyBytes: cfg.MaxBodyBytes, Metrics: metrics, Tracer: s.tracer(), TraceUserID: s.cfg.Tracing.UserID,
		Batch: server.BatchOptions{MaxConcurrency: cfg.BatchRequests.MaxConcurrency, OperationsLimit: cfg.BatchRequests.OperationsLimit}, Ready: s.ready, Log: s.log, Events: s.events,
		Notifications: notes,
	})
	if err != nil {
		return err
	}
	opts := server.ServerOptions{
		API: api, Listen: cfg.Listen,
		CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile,
		ReadTimeout: cfg.ReadTimeout.Std(), WriteTimeout: cfg.WriteTimeout.Std(), IdleTimeout: cfg.IdleTimeout.Std(),
		Log: s.log, OnShutdown: notes.Close,
	}
	if cfg.AdminListen != config.AdminOff {
		opts.Admin = server.NewAdmin(server.AdminOptions{Gatherer: reg, Tokens: adminTokens, JWT: adminAuth.jwt, Issuer: adminAuth.issuer, Ready: s.ready})
		opts.AdminListen = cfg.AdminListen
	}
	if w := s.cfg.Webhook; w.Listen != config.WebhookOff {
		if opts.Webhook, err = s.webhook(w, metrics); err != nil {
			return err
		}
		opts.WebhookListen = w.Listen
	}
	srv, err := server.Listen(opts)
	if err != nil {
		return err
	}
	s.srv = srv
	return nil
}

// webhook builds the handler of Optimizely's datafile webhooks: a valid
// one refreshes its project's datafiles in the set.
func (s *Service) webhook(cfg config.Webhook, metrics *server.Metrics) (http.Handler, error) {
	projects := make(map[int64]server.WebhookProject, len(cfg.Projects))
	for key, p := range cfg.Projects {
		id, err := config.ProjectID(key)
		if err != nil {
			return nil, fmt.Errorf("webhook.projects: %w", err)
		}
		projects[id] = server.WebhookProject{SDKKeys: p.SDKKeys, Secret: p.Secret, SkipSignatureCheck: p.SkipSignatureCheck}
	}
	return server.NewWebhook(server.WebhookOptions{
		Projects: projects, Refresh: s.set.Refresh, MaxBodyBytes: cfg.MaxBodyBytes, Metrics: metrics, Log: s.log,
	})
}
