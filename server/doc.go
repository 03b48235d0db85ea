// Package server is stickybucket's HTTP decision service, compatible with
// Optimizely Agent: a client written for Agent's API works unchanged
// (same paths, field names and status codes), and every decision is sticky
// through the configured profile store.
//
// The API handler (NewAPI) serves
//
//	POST   /v1/decide?keys=K…    decide flags (one object for one key, an array otherwise)
//	POST   /v1/activate?…        decide experiments and features (Agent's legacy API)
//	POST   /v1/track?eventKey=K  a conversion (Agent's answers, word for word)
//	POST   /v1/lookup            a user's profile, Optimizely's schema
//	POST   /v1/save              save a profile, Optimizely's schema
//	GET    /v1/datafile          the datafile in force
//	GET    /v1/config            the datafile by key (revision, experimentsMap, featuresMap)
//	GET    /v1/profiles/{userId} a profile with each assignment's decidedAt and expiresAt
//	DELETE /v1/profiles/{userId} erase a user (204, idempotent)
//	POST   /v1/batch             Agent's batch: operations run through these routes, answered together
//	GET    /health, /ready       alive; datafiles loaded and store answering
//	GET    /openapi.yaml         the OpenAPI document of these routes (openapi.yaml)
//
// With Options.Events, decide and activate queue the impressions the
// Optimizely SDKs would send (not with DISABLE_DECISION_EVENT or
// disableTracking=true) and track queues its conversion, in Optimizely's
// event format (package events); the request never waits for the event
// endpoint.
//
// X-Optimizely-SDK-Key picks the datafile when the service holds several;
// with one it may be left out. Bad input always gets a JSON
// {"error": "…"} with 400, 401, 404, 405, 413, 415 or 422, never a 500. The admin
// handler (NewAdmin) serves Prometheus metrics, the health checks and
// pprof. The webhook handler (NewWebhook) takes Optimizely's signed
// datafile webhooks, POST /webhooks/optimizely, and refreshes the
// project's datafiles, as Agent's webhook listener does. Server runs them
// with timeouts, TLS and a graceful shutdown.
package server
