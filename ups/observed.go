package ups

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Observed reports every call to the Service it wraps — its operation,
// duration and error — to a hook, for metrics and logs. It implements
// every optional capability and passes each through; a read the store
// cannot make is made of Lookup and reported as the lookup it was.
//
// Observed holds nothing: calls after Close go through to the Service it
// wraps, which refuses them with ErrClosed.
type Observed struct {
	next    Service
	observe func(op string, d time.Duration, err error)
	// What next offers, resolved once: nil where the store under it
	// cannot.
	scoped     ScopedLookuper
	assignment AssignmentLookuper
	first      FirstWriter
	replacer   Replacer
	deleter    Deleter
	closed     atomic.Bool
}

// Operation names given to the hook.
const (
	OpLookup            = "lookup"
	OpLookupExperiments = "lookup_experiments"
	OpLookupAssignment  = "lookup_assignment"
	OpSave              = "save"
	OpSaveFirst         = "save_first"
	OpSaveReplacing     = "save_replacing"
	OpDelete            = "delete"
)

// NewObserved wraps next; observe is called after every call, from the
// caller's goroutine, and must be fast and safe for concurrent use.
func NewObserved(next Service, observe func(op string, d time.Duration, err error)) (*Observed, error) {
	if next == nil || observe == nil {
		return nil, fmt.Errorf("ups: new observed: next service and hook are required")
	}
	o := &Observed{next: next, observe: observe}
	o.scoped, _ = As[ScopedLookuper](next)
	o.assignment, _ = As[AssignmentLookuper](next)
	o.first, _ = As[FirstWriter](next)
	o.replacer, _ = As[Replacer](next)
	o.deleter, _ = As[Deleter](next)
	return o, nil
}

// Unwrap returns the Service o wraps.
func (o *Observed) Unwrap() Service { return o.next }

// Lookup implements Service.
func (o *Observed) Lookup(ctx context.Context, userID string) (Profile, error) {
	start := time.Now()
	p, err := o.next.Lookup(ctx, userID)
	o.observe(OpLookup, time.Since(start), err)
	return p, err
}

// LookupExperiments implements ScopedLookuper, reading the whole profile
// (observed as a lookup) and keeping the requested entries when the
// store cannot scope.
func (o *Observed) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	if o.scoped == nil {
		return experimentsFrom(ctx, o, userID, experimentIDs)
	}
	start := time.Now()
	p, err := o.scoped.LookupExperiments(ctx, userID, experimentIDs)
	o.observe(OpLookupExperiments, time.Since(start), err)
	return p, err
}

// LookupAssignment implements AssignmentLookuper, falling back to a
// scoped lookup (observed as what it is) when the store cannot read
// single assignments.
func (o *Observed) LookupAssignment(ctx context.Context, userID, experimentID string) (Assignment, bool, error) {
	if o.assignment == nil {
		return assignmentFrom(ctx, o, userID, experimentID)
	}
	start := time.Now()
	a, found, err := o.assignment.LookupAssignment(ctx, userID, experimentID)
	o.observe(OpLookupAssignment, time.Since(start), err)
	return a, found, err
}

// Save implements Service.
func (o *Observed) Save(ctx context.Context, p Profile) error {
	start := time.Now()
	err := o.next.Save(ctx, p)
	o.observe(OpSave, time.Since(start), err)
	return err
}

// SaveFirst implements FirstWriter when the store does.
func (o *Observed) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	if o.first == nil {
		return Profile{}, unsupported("observed", "save first for", p.UserID, "FirstWriter")
	}
	start := time.Now()
	won, err := o.first.SaveFirst(ctx, p)
	o.observe(OpSaveFirst, time.Since(start), err)
	return won, err
}

// SaveReplacing implements Replacer when the store does.
func (o *Observed) SaveReplacing(ctx context.Context, p Profile, was map[string]Assignment) (Profile, error) {
	if o.replacer == nil {
		return Profile{}, unsupported("observed", "save replacing for", p.UserID, "Replacer")
	}
	start := time.Now()
	won, err := o.replacer.SaveReplacing(ctx, p, was)
	o.observe(OpSaveReplacing, time.Since(start), err)
	return won, err
}

// Delete implements Deleter when the store does.
func (o *Observed) Delete(ctx context.Context, userID string) error {
	if o.deleter == nil {
		return unsupported("observed", "delete", userID, "Deleter")
	}
	start := time.Now()
	err := o.deleter.Delete(ctx, userID)
	o.observe(OpDelete, time.Since(start), err)
	return err
}

// Close closes next if it is a Closer; a second Close does nothing.
func (o *Observed) Close(ctx context.Context) error {
	if o.closed.Swap(true) {
		return nil
	}
	return Close(ctx, o.next)
}
