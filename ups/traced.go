package ups

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Traced makes an OpenTelemetry span of every call to the Service it wraps
// made within a recording span (a traced request): named store.<op>, with
// the operation, its result and, when it failed, the kind of error
// (ErrorKind). A call outside a recording span (an async saver's write,
// an unsampled request) makes none and costs a context lookup.
//
// By default no span holds the user ID: not as an attribute, and not in
// an error message (store errors name the user), so only the kind of an
// error is recorded. TracedOptions.UserID records both.
//
// Like Observed, Traced implements every optional capability and passes
// each through, and holds nothing: calls after Close go through.
type Traced struct {
	next   Service
	tracer trace.Tracer
	userID bool
	// What next offers, resolved once: nil where the store under it
	// cannot.
	scoped     ScopedLookuper
	assignment AssignmentLookuper
	first      FirstWriter
	replacer   Replacer
	deleter    Deleter
	closed     atomic.Bool
}

// TracedOptions configures NewTraced.
type TracedOptions struct {
	// Tracer makes the spans. Required.
	Tracer trace.Tracer
	// UserID records the user ID (attribute enduser.id) and the messages
	// of errors, which name the user; off, spans carry neither.
	UserID bool
}

// Attributes of the spans of Traced.
const (
	// AttrStoreOp is the operation: one of the Op constants.
	AttrStoreOp = attribute.Key("stickybucket.store.op")
	// AttrStoreResult is ok or error; found or not_found for
	// lookup_assignment.
	AttrStoreResult = attribute.Key("stickybucket.store.result")
	// AttrErrorType is the kind of a failure (ErrorKind).
	AttrErrorType = attribute.Key("error.type")
	// AttrUserID is the user ID, with TracedOptions.UserID only.
	AttrUserID = attribute.Key("enduser.id")
)

// NewTraced wraps next.
func NewTraced(next Service, opts TracedOptions) (*Traced, error) {
	if next == nil || opts.Tracer == nil {
		return nil, fmt.Errorf("ups: new traced: next service and tracer are required")
	}
	t := &Traced{next: next, tracer: opts.Tracer, userID: opts.UserID}
	t.scoped, _ = As[ScopedLookuper](next)
	t.assignment, _ = As[AssignmentLookuper](next)
	t.first, _ = As[FirstWriter](next)
	t.replacer, _ = As[Replacer](next)
	t.deleter, _ = As[Deleter](next)
	return t, nil
}

// Unwrap returns the Service t wraps.
func (t *Traced) Unwrap() Service { return t.next }

// start opens the span of op when ctx is within a recording span; the
// span is nil otherwise.
func (t *Traced) start(ctx context.Context, op, userID string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	ctx, span := t.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrStoreOp.String(op)))
	if t.userID {
		span.SetAttributes(AttrUserID.String(userID))
	}
	return ctx, span
}

// end closes span (if any) with err's kind; result names a success.
func (t *Traced) end(span trace.Span, result string, err error) {
	if span == nil {
		return
	}
	if err != nil {
		kind := ErrorKind(err)
		span.SetAttributes(AttrStoreResult.String("error"), AttrErrorType.String(kind))
		desc := kind
		if t.userID {
			desc = err.Error()
		}
		span.SetStatus(codes.Error, desc)
	} else {
		span.SetAttributes(AttrStoreResult.String(result))
	}
	span.End()
}

// Lookup implements Service.
func (t *Traced) Lookup(ctx context.Context, userID string) (Profile, error) {
	ctx, span := t.start(ctx, OpLookup, userID)
	p, err := t.next.Lookup(ctx, userID)
	t.end(span, "ok", err)
	return p, err
}

// LookupExperiments implements ScopedLookuper, reading the whole profile
// (traced as a lookup) when the store cannot scope.
func (t *Traced) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	if t.scoped == nil {
		return experimentsFrom(ctx, t, userID, experimentIDs)
	}
	ctx, span := t.start(ctx, OpLookupExperiments, userID)
	p, err := t.scoped.LookupExperiments(ctx, userID, experimentIDs)
	t.end(span, "ok", err)
	return p, err
}

// LookupAssignment implements AssignmentLookuper, falling back to a
// scoped lookup (traced as what it is) when the store cannot read single
// assignments.
func (t *Traced) LookupAssignment(ctx context.Context, userID, experimentID string) (Assignment, bool, error) {
	if t.assignment == nil {
		return assignmentFrom(ctx, t, userID, experimentID)
	}
	ctx, span := t.start(ctx, OpLookupAssignment, userID)
	a, found, err := t.assignment.LookupAssignment(ctx, userID, experimentID)
	result := "found"
	if !found {
		result = "not_found"
	}
	t.end(span, result, err)
	return a, found, err
}

// Save implements Service.
func (t *Traced) Save(ctx context.Context, p Profile) error {
	ctx, span := t.start(ctx, OpSave, p.UserID)
	err := t.next.Save(ctx, p)
	t.end(span, "ok", err)
	return err
}

// SaveFirst implements FirstWriter when the store does.
func (t *Traced) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	if t.first == nil {
		return Profile{}, unsupported("traced", "save first for", p.UserID, "FirstWriter")
	}
	ctx, span := t.start(ctx, OpSaveFirst, p.UserID)
	won, err := t.first.SaveFirst(ctx, p)
	t.end(span, "ok", err)
	return won, err
}

// SaveReplacing implements Replacer when the store does.
func (t *Traced) SaveReplacing(ctx context.Context, p Profile, was map[string]Assignment) (Profile, error) {
	if t.replacer == nil {
		return Profile{}, unsupported("traced", "save replacing for", p.UserID, "Replacer")
	}
	ctx, span := t.start(ctx, OpSaveReplacing, p.UserID)
	won, err := t.replacer.SaveReplacing(ctx, p, was)
	t.end(span, "ok", err)
	return won, err
}

// Delete implements Deleter when the store does.
func (t *Traced) Delete(ctx context.Context, userID string) error {
	if t.deleter == nil {
		return unsupported("traced", "delete", userID, "Deleter")
	}
	ctx, span := t.start(ctx, OpDelete, userID)
	err := t.deleter.Delete(ctx, userID)
	t.end(span, "ok", err)
	return err
}

// Close closes next if it is a Closer; a second Close does nothing.
func (t *Traced) Close(ctx context.Context) error {
	if t.closed.Swap(true) {
		return nil
	}
	return Close(ctx, t.next)
}

// ErrorKind names the kind of a store error for metrics and traces,
// without its message (which names the user): unavailable (the store
// cannot answer, timeouts included), invalid (a profile the schema
// refuses), canceled (the caller gave up), or other.
func ErrorKind(err error) string {
	switch {
	case Unavailable(err):
		return "unavailable"
	case errors.Is(err, ErrInvalidProfile):
		return "invalid"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "other"
}
