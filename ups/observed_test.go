package ups

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestObservedReportsEveryCall(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{})
	var (
		mu  sync.Mutex
		ops []string
	)
	o, err := NewObserved(m, func(op string, d time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		ops = append(ops, fmt.Sprintf("%s:%v", op, err != nil))
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = o.Save(ctx, oneAssignment("u1", "e", "v"))
	_, _ = o.Lookup(ctx, "u1")
	_, _ = o.LookupExperiments(ctx, "u1", []string{"e"})
	if a, ok, err := o.LookupAssignment(ctx, "u1", "e"); err != nil || !ok || a.VariationID != "v" {
		t.Fatalf("LookupAssignment through Observed = %+v, %v, %v", a, ok, err)
	}
	_, _ = o.SaveFirst(ctx, oneAssignment("u1", "e2", "v"))
	_, _ = o.SaveReplacing(ctx, oneAssignment("u1", "e2", "w"), nil)
	_ = o.Delete(ctx, "u1")
	_, _ = o.Lookup(ctx, "") // invalid: reported as failed
	if err := o.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Lookup(ctx, "u1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Close did not close the store below: %v", err)
	}
	want := "[save:false lookup:false lookup_experiments:false lookup_assignment:false save_first:false save_replacing:false delete:false lookup:true]"
	if got := fmt.Sprint(ops); got != want {
		t.Errorf("observed %s\nwant     %s", got, want)
	}
}

// bareService has only the Service methods.
type bareService struct{ Service }

func TestObservedWithoutCapabilities(t *testing.T) {
	ctx := context.Background()
	m, _ := NewMemory(MemoryOptions{})
	_ = m.Save(ctx, oneAssignment("u1", "e", "v"))
	o, _ := NewObserved(bareService{m}, func(string, time.Duration, error) {})
	if a, ok, err := o.LookupAssignment(ctx, "u1", "e"); err != nil || !ok || a.VariationID != "v" {
		t.Errorf("LookupAssignment falls back to Lookup: %+v, %v, %v", a, ok, err)
	}
	if err := o.Delete(ctx, "u1"); err == nil {
		t.Error("Delete over a store that cannot delete: no error")
	}
	if _, err := o.SaveFirst(ctx, oneAssignment("u1", "e", "v")); err == nil {
		t.Error("SaveFirst over a store without it: no error")
	}
	if _, err := o.SaveReplacing(ctx, oneAssignment("u1", "e", "v"), nil); err == nil {
		t.Error("SaveReplacing over a store without it: no error")
	}
}
