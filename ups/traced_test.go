package ups

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// tracedOver returns a Traced over next, the recorder of its spans, and a
// context within a recording parent span.
func tracedOver(t *testing.T, next Service, userID bool) (*Traced, *tracetest.SpanRecorder, context.Context) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tr, err := NewTraced(next, TracedOptions{Tracer: tp.Tracer("test"), UserID: userID})
	if err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "parent")
	t.Cleanup(func() { parent.End() })
	return tr, rec, ctx
}

// spanLine says what a span holds: name, attributes, status, events.
func spanLine(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	b.WriteString(s.Name())
	for _, a := range s.Attributes() {
		fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
	}
	if s.Status().Code == codes.Error {
		fmt.Fprintf(&b, " status=%q", s.Status().Description)
	}
	for _, e := range s.Events() {
		fmt.Fprintf(&b, " event=%s", e.Name)
		for _, a := range e.Attributes {
			fmt.Fprintf(&b, " %s=%s", a.Key, a.Value.Emit())
		}
	}
	return b.String()
}

func TestTracedSpansEveryCallWithoutTheUserID(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	tr, rec, ctx := tracedOver(t, m, false)
	const user = "user-7f3a9c"
	_ = tr.Save(ctx, oneAssignment(user, "e", "v"))
	_, _ = tr.Lookup(ctx, user)
	_, _ = tr.LookupExperiments(ctx, user, []string{"e"})
	_, _, _ = tr.LookupAssignment(ctx, user, "e")
	_, _, _ = tr.LookupAssignment(ctx, user, "missing")
	_, _ = tr.SaveFirst(ctx, oneAssignment(user, "e2", "v"))
	_, _ = tr.SaveReplacing(ctx, oneAssignment(user, "e2", "w"), nil)
	_ = tr.Delete(ctx, user)
	_ = failingSave(t, tr).Save(ctx, oneAssignment(user, "e", "v")) // its message names the user
	want := []string{
		"store.save stickybucket.store.op=save stickybucket.store.result=ok",
		"store.lookup stickybucket.store.op=lookup stickybucket.store.result=ok",
		"store.lookup_experiments stickybucket.store.op=lookup_experiments stickybucket.store.result=ok",
		"store.lookup_assignment stickybucket.store.op=lookup_assignment stickybucket.store.result=found",
		"store.lookup_assignment stickybucket.store.op=lookup_assignment stickybucket.store.result=not_found",
		"store.save_first stickybucket.store.op=save_first stickybucket.store.result=ok",
		"store.save_replacing stickybucket.store.op=save_replacing stickybucket.store.result=ok",
		"store.delete stickybucket.store.op=delete stickybucket.store.result=ok",
		`store.save stickybucket.store.op=save stickybucket.store.result=error error.type=unavailable status="unavailable"`,
	}
	spans := rec.Ended()
	if len(spans) != len(want) {
		for _, s := range spans {
			t.Log(spanLine(s))
		}
		t.Fatalf("%d spans, want %d", len(spans), len(want))
	}
	for i, s := range spans {
		line := spanLine(s)
		if line != want[i] {
			t.Errorf("span %d:\n got %s\nwant %s", i, line, want[i])
		}
		if strings.Contains(line, user) {
			t.Errorf("span %d holds the user ID: %s", i, line)
		}
		if !s.Parent().IsValid() {
			t.Errorf("span %d has no parent", i)
		}
	}
}

// refusingSaves fails every Save as a store does, naming the user.
type refusingSaves struct{ Service }

func (refusingSaves) Save(_ context.Context, p Profile) error {
	return fmt.Errorf("cassandra: save user %q: %w", p.UserID, ErrUnavailable)
}

// failingSave returns a Traced like tr over a store that refuses saves.
func failingSave(t *testing.T, tr *Traced) *Traced {
	t.Helper()
	f, err := NewTraced(refusingSaves{tr.next}, TracedOptions{Tracer: tr.tracer, UserID: tr.userID})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestTracedRecordsTheUserIDWhenAsked(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	tr, rec, ctx := tracedOver(t, m, true)
	_, _ = tr.Lookup(ctx, "u1")
	_ = failingSave(t, tr).Save(ctx, oneAssignment("u2", "e", "v"))
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	if got := spanLine(spans[0]); got != "store.lookup stickybucket.store.op=lookup enduser.id=u1 stickybucket.store.result=ok" {
		t.Errorf("lookup span: %s", got)
	}
	if got := spans[1].Status().Description; !strings.Contains(got, "u2") {
		t.Errorf("failed save's status %q: want the error's message", got)
	}
}

// A call outside a recording span (an async saver's write, an unsampled
// request) makes no span.
func TestTracedOnlyUnderARecordingSpan(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	tr, rec, _ := tracedOver(t, m, false)
	if _, err := tr.Lookup(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans without a parent, want none", n)
	}
}

func TestTracedWithoutCapabilities(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	tr, rec, ctx := tracedOver(t, bareService{m}, false)
	_ = m.Save(context.Background(), oneAssignment("u1", "e", "v"))
	if a, ok, err := tr.LookupAssignment(ctx, "u1", "e"); err != nil || !ok || a.VariationID != "v" {
		t.Fatalf("LookupAssignment falls back to Lookup: %+v, %v, %v", a, ok, err)
	}
	if err := tr.Delete(ctx, "u1"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Delete over a store that cannot: %v", err)
	}
	if _, err := tr.SaveFirst(ctx, oneAssignment("u1", "e", "v")); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SaveFirst over a store without it: %v", err)
	}
	if _, err := tr.SaveReplacing(ctx, oneAssignment("u1", "e", "v"), nil); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("SaveReplacing over a store without it: %v", err)
	}
	var names []string
	for _, s := range rec.Ended() {
		names = append(names, s.Name())
	}
	if got := fmt.Sprint(names); got != "[store.lookup]" {
		t.Errorf("spans %s: the fallback is traced as the lookup it makes", got)
	}
}

func TestErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", ErrUnavailable), "unavailable"},
		{context.DeadlineExceeded, "unavailable"},
		{fmt.Errorf("x: %w", ErrInvalidProfile), "invalid"},
		{context.Canceled, "canceled"},
		{errors.New("boom"), "other"},
	} {
		if got := ErrorKind(c.err); got != c.want {
			t.Errorf("ErrorKind(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}
