package server

import (
	"context"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// This file holds the OpenTelemetry spans of the API (Options.Tracer): one
// per request, named for its route, and one per decision call. With no
// tracer neither is made: a route is not wrapped and a decision pays a nil
// check.
//
// What spans hold is chosen so that a trace never carries a user's data:
// the method, the route's pattern (never the path: /v1/profiles/{userId}
// has the user in it) and the status; the flag keys and decide options of
// a decision, what it made of the profile, and why it went without. Not
// user IDs (unless Options.TraceUserID), attributes, bodies, query
// strings, tokens or error messages.

// Attributes of the API's spans.
const (
	attrMethod        = attribute.Key("http.request.method")
	attrRoute         = attribute.Key("http.route")
	attrStatus        = attribute.Key("http.response.status_code")
	attrDecisionKind  = attribute.Key("stickybucket.decision.kind")
	attrKeys          = attribute.Key("stickybucket.decision.keys")
	attrKeyCount      = attribute.Key("stickybucket.decision.key_count")
	attrAllFlags      = attribute.Key("stickybucket.decision.all_flags")
	attrOptions       = attribute.Key("stickybucket.decision.options")
	attrDecisions     = attribute.Key("stickybucket.decision.count")
	attrProfile       = attribute.Key("stickybucket.decision.profile")
	attrWithoutReason = attribute.Key("stickybucket.decision.without_profile_reason")
)

// maxTracedKeys bounds the keys (flags, or experiments of activate) a
// decision span lists; the count says how many there were.
const maxTracedKeys = 32

// traceContext reads W3C traceparent and tracestate headers.
var traceContext propagation.TraceContext

// traced makes a server span of every request to next, named name,
// continuing the trace of the request's traceparent header. pattern is the
// route's ("METHOD /path"), "" for the catch-alls.
func (a *api) traced(name, pattern string, next http.Handler) http.Handler {
	tracer := a.opts.Tracer
	if tracer == nil {
		return next
	}
	var base []attribute.KeyValue
	if _, path, ok := strings.Cut(pattern, " "); ok {
		base = append(base, attrRoute.String(path))
	} else if pattern != "" {
		base = append(base, attrRoute.String(pattern))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		// A batch's operations come with the batch's span: they are its
		// children, whatever headers they copied.
		if !trace.SpanContextFromContext(ctx).IsValid() {
			ctx = traceContext.Extract(ctx, propagation.HeaderCarrier(r.Header))
		}
		ctx, span := tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		if !span.IsRecording() {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		span.SetAttributes(base...)
		span.SetAttributes(attrMethod.String(methodName(r.Method)))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(attrStatus.Int(sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

// methodName is r.Method when it is a standard method, _OTHER otherwise
// (OpenTelemetry's convention: a client picks the method).
func methodName(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return m
	}
	return "_OTHER"
}

// decisionTraced reports whether a decision within ctx gets a span: the
// API has a tracer and the request's span records.
func (a *api) decisionTraced(ctx context.Context) bool {
	return a.opts.Tracer != nil && trace.SpanFromContext(ctx).IsRecording()
}

// startDecision opens the span of one decision call of kind (flag or
// experiment) on keys (none: every flag) with opts, and ENABLED_FLAGS_ONLY
// when enabledOnly (decide applies it itself with events on); call it only
// when decisionTraced.
func (a *api) startDecision(ctx context.Context, kind string, keys []string, opts []decision.Option, enabledOnly bool, userID string) (context.Context, trace.Span) {
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, attrDecisionKind.String(kind))
	if len(keys) == 0 {
		attrs = append(attrs, attrAllFlags.Bool(true))
	} else {
		attrs = append(attrs, attrKeys.StringSlice(keys[:min(len(keys), maxTracedKeys)]), attrKeyCount.Int(len(keys)))
	}
	if len(opts) > 0 || enabledOnly {
		names := make([]string, 0, len(opts)+1)
		for _, o := range opts {
			names = append(names, string(o))
		}
		if enabledOnly {
			names = append(names, string(decision.EnabledFlagsOnly))
		}
		attrs = append(attrs, attrOptions.StringSlice(names))
	}
	if a.opts.TraceUserID {
		attrs = append(attrs, ups.AttrUserID.String(userID))
	}
	return a.opts.Tracer.Start(ctx, "decision", trace.WithAttributes(attrs...))
}

// endDecision closes span, if any, with what the call made: n decisions,
// their use of the profile, and why they went without it when err says.
func endDecision(span trace.Span, n int, use decision.ProfileUse, err error) {
	if span == nil {
		return
	}
	span.SetAttributes(attrDecisions.Int(n), attrProfile.String(use.String()))
	if err != nil {
		span.SetAttributes(attrWithoutReason.String(withoutProfileReason(err)))
	}
	span.End()
}

// profileUseOf sums up the profile use of several decisions: unread if
// any went without the profile it needed, else read if any read it.
func profileUseOf(ds map[string]decision.FlagDecision) decision.ProfileUse {
	use := decision.ProfileUnused
	for _, d := range ds {
		switch d.Profile {
		case decision.ProfileUnread:
			return decision.ProfileUnread
		case decision.ProfileRead:
			use = decision.ProfileRead
		}
	}
	return use
}
