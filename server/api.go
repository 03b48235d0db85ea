package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/events"
	"github.com/stickybucket/stickybucket/sdkprofiles"
	"github.com/stickybucket/stickybucket/ups"
)

// Catalog finds the datafile in force for an SDK key.
type Catalog interface {
	// Datafile returns the datafile for sdkKey; "" asks for the only one.
	// Errors wrap ErrSDKKeyRequired or ErrUnknownSDKKey.
	Datafile(sdkKey string) (Datafile, error)
}

// Datafile is one datafile in force and the client deciding with it.
type Datafile struct {
	SDKKey string
	Client *decision.Client
	// Raw is the datafile as loaded, served by GET /v1/datafile.
	Raw []byte
	// Events is what events need of the datafile; nil: the datafile's
	// decisions send no impressions and /v1/track knows no event.
	Events *events.Project
	// Config returns the datafile's OptimizelyConfig as JSON, served by
	// GET /v1/config; it should build it once per datafile
	// (datafiles.Entry.OptimizelyConfig does). Nil builds it from Raw on
	// every request.
	Config func() ([]byte, error)
}

// Options configures NewAPI.
type Options struct {
	// Catalog holds the datafiles. Required.
	Catalog Catalog
	// Profiles is the profile store behind /v1/lookup, /v1/save and
	// /v1/profiles (the same one the decision clients use). Required.
	Profiles ups.Service
	// SDKProfiles serves /v1/ups/lookup and /v1/ups/save over Profiles
	// with the environment's stickiness rules; nil builds one with none
	// (no refresh, no resets, plain saves).
	SDKProfiles *sdkprofiles.Service
	// Tokens, when not empty, are required as bearer tokens on every /v1
	// route.
	Tokens Tokens
	// JWT, when set, also accepts bearer JWTs on every /v1 route whose
	// sdk_keys claim holds the request's X-Optimizely-SDK-Key (auth.go).
	JWT *JWTVerifier
	// Issuer, when set, answers POST /oauth/token with tokens JWT accepts.
	Issuer *TokenIssuer
	// MaxBodyBytes bounds request bodies (413 beyond); default 1 MiB.
	MaxBodyBytes int64
	// MaxResponseBytes bounds what one decide request may make the service
	// answer, estimated before deciding (413 beyond): every decision
	// echoes the user's attributes, so keys times attributes is refused
	// rather than built; default 16 MiB.
	MaxResponseBytes int64
	// Batch bounds POST /v1/batch; zero fields take Agent's defaults.
	Batch BatchOptions
	// Events, when set, sends the impressions of /v1/decide and
	// /v1/activate and the conversions of /v1/track; nil sends none (the
	// routes answer the same).
	Events *events.Processor
	// Notifications, when set, serves GET /v1/notifications/event-stream
	// and receives the decisions of /v1/decide and /v1/activate and the
	// conversions of /v1/track; nil answers that route 403, as Agent with
	// api.enableNotifications false (its default).
	Notifications *Notifications
	// Metrics records requests and decisions; nil records nothing.
	Metrics *Metrics
	// Tracer, when set, makes an OpenTelemetry span of every request
	// (named for its route, continuing the trace of a W3C traceparent
	// header) and of every decision call (tracing.go); nil makes none, at
	// no cost.
	Tracer trace.Tracer
	// TraceUserID records the user ID on decision spans (enduser.id); off,
	// no span of the API holds it.
	TraceUserID bool
	// Ready reports whether the service can serve (datafiles loaded, store
	// answering), for /ready. Nil: always ready.
	Ready func(ctx context.Context) error
	// Log receives request failures worth an operator's attention; nil
	// means slog.Default().
	Log *slog.Logger
}

type api struct {
	opts        Options
	sdk         *sdkprofiles.Service
	maxBody     int64
	maxResponse int64
	batchOpts   BatchOptions
	log         *slog.Logger
	// mux routes the API's requests, a batch's operations among them.
	mux *apiMux
}

// NewAPI returns the Agent-compatible API handler.
func NewAPI(opts Options) (http.Handler, error) {
	if opts.Catalog == nil || opts.Profiles == nil {
		return nil, errors.New("server: new API: Catalog and Profiles are required")
	}
	a := &api{opts: opts, sdk: opts.SDKProfiles, maxBody: opts.MaxBodyBytes, log: opts.Log}
	if a.sdk == nil {
		sdk, err := sdkprofiles.New(opts.Profiles, sdkprofiles.Options{})
		if err != nil {
			return nil, fmt.Errorf("server: new API: %w", err)
		}
		a.sdk = sdk
	}
	if a.maxBody <= 0 {
		a.maxBody = defaultMaxBody
	}
	a.maxResponse = opts.MaxResponseBytes
	if a.maxResponse <= 0 {
		a.maxResponse = defaultMaxResponse
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	a.batchOpts = opts.Batch
	if a.batchOpts.MaxConcurrency <= 0 {
		a.batchOpts.MaxConcurrency = DefaultBatchMaxConcurrency
	}
	if a.batchOpts.OperationsLimit <= 0 {
		a.batchOpts.OperationsLimit = DefaultBatchOperationsLimit
	}
	mux := &apiMux{ServeMux: http.NewServeMux(), allow: map[string]string{}}
	a.mux = mux
	route := func(pattern, name string, h http.HandlerFunc, authenticated bool) {
		mux.patterns = append(mux.patterns, pattern)
		var handler http.Handler = h
		if authenticated {
			sc := scopeSDKKey
			if pattern == "POST /v1/batch" {
				// Each operation is checked by its route, with its own SDK
				// key; the batch itself needs an API token.
				sc = scopeAPI
			}
			handler = requireAuth(opts.Tokens, opts.JWT, sc, handler)
		}
		mux.Handle(pattern, a.traced(name, pattern, opts.Metrics.instrument(name, handler)))
	}
	route("POST /v1/decide", "decide", a.decide, true)
	route("POST /v1/activate", "activate", a.activate, true)
	route("POST /v1/track", "track", a.track, true)
	route("POST /v1/lookup", "lookup", a.lookup, true)
	route("POST /v1/save", "save", a.save, true)
	route("POST /v1/ups/lookup", "ups_lookup", a.sdkLookup, true)
	route("GET /v1/ups/lookup", "ups_lookup", a.sdkLookup, true)
	route("POST /v1/ups/save", "ups_save", a.sdkSave, true)
	route("GET /v1/datafile", "datafile", a.datafile, true)
	route("GET /v1/config", "config", a.config, true)
	route("GET /v1/profiles/{userId}", "profile_get", a.getProfile, true)
	route("DELETE /v1/profiles/{userId}", "profile_delete", a.deleteProfile, true)
	route("POST /v1/override", "override", a.override, true)
	route("POST /v1/batch", "batch", a.batch, true)
	if opts.Issuer != nil {
		route("POST /oauth/token", "oauth_token", opts.Issuer.ServeHTTP, false)
	}
	route("GET /v1/notifications/event-stream", "notifications", a.notificationStream, true)
	route("GET /health", "health", health, false)
	route("GET /ready", "ready", readiness(opts.Ready), false)
	route("GET /openapi.yaml", "openapi", openAPI, false)

	// The same paths with another method: 405, in JSON.
	for path, allow := range map[string]string{
		"/v1/decide": "POST", "/v1/activate": "POST", "/v1/track": "POST", "/v1/lookup": "POST", "/v1/save": "POST",
		"/v1/ups/lookup": "GET, HEAD, POST", "/v1/ups/save": "POST",
		"/v1/datafile": "GET, HEAD", "/v1/config": "GET, HEAD", "/v1/profiles/{userId}": "GET, HEAD, DELETE",
		"/v1/override": "POST", "/v1/batch": "POST", "/v1/notifications/event-stream": "GET, HEAD", "/health": "GET, HEAD", "/ready": "GET, HEAD",
		"/openapi.yaml": "GET, HEAD",
	} {
		mux.allow[path] = allow
		mux.Handle(path, a.traced("method_not_allowed", path, opts.Metrics.instrument("method_not_allowed", methodNotAllowed(allow))))
	}
	if opts.Issuer != nil {
		mux.allow["/oauth/token"] = "POST"
		mux.Handle("/oauth/token", a.traced("method_not_allowed", "/oauth/token", opts.Metrics.instrument("method_not_allowed", methodNotAllowed("POST"))))
	}
	mux.Handle("/", a.traced("not_found", "", opts.Metrics.instrument("not_found", http.HandlerFunc(notFound))))
	return mux, nil
}

// apiMux is the API's routes, and what they are, for the test that holds
// them equal to the OpenAPI document (openapi.yaml).
type apiMux struct {
	*http.ServeMux
	patterns []string          // "METHOD /path" as registered
	allow    map[string]string // path → its Allow header, for 405
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		writeErrorStatus(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed; use "+allow)
	})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	msg := "no such route: " + cut(r.URL.Path, 128)
	switch r.URL.Path {
	case "/v1/send-odp-event", "/v1/reset":
		msg = r.URL.Path + " is not supported: stickybucket decides, keeps assignments sticky and sends Optimizely's impression and conversion events; it has no ODP integration"
	case "/oauth/token":
		msg = "/oauth/token issues tokens only when clients and HMAC secrets are configured (server.auth on the API listener, server.admin_auth on the admin one)"
	}
	writeErrorStatus(w, http.StatusNotFound, msg)
}

// datafileFor finds the datafile the request's SDK key names.
//
// A request that names no SDK key gets the only datafile when there is
// one; a request whose header is there but empty is refused as Agent
// refuses it (400): that is a client that meant to send a key and lost it.
func (a *api) datafileFor(r *http.Request) (Datafile, error) {
	if v := r.Header.Values(sdkKeyHeader); len(v) > 0 && v[0] == "" {
		return Datafile{}, ErrSDKKeyRequired
	}
	return a.opts.Catalog.Datafile(r.Header.Get(sdkKeyHeader))
}

func health(w http.ResponseWriter, r *http.Request) {
	writeJSONBytes(w, http.StatusOK, []byte(`{"status":"ok"}`+"\n"))
}

// readiness answers 200 when ready reports no error within a second, 503
// with the reason otherwise.
func readiness(ready func(context.Context) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), time.Second)
			defer cancel()
			if err := ready(ctx); err != nil {
				buf := getBuffer()
				defer putBuffer(buf)
				b := append(buf.b[:0], `{"status":"not ready","error":`...)
				b = appendString(b, err.Error())
				buf.b = append(b, "}\n"...)
				writeJSONBytes(w, http.StatusServiceUnavailable, buf.b)
				return
			}
		}
		writeJSONBytes(w, http.StatusOK, []byte(`{"status":"ready"}`+"\n"))
	}
}

// jsonContentType is shared by every answer: net/http only reads it.
var jsonContentType = []string{"application/json"}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte) {
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
