package ups

import (
	"context"
	"fmt"
	"time"
)

// Observed reports every call to the Service it wraps — its operation,
// duration and error — to a hook, for metrics and logs. It implements
// every optional capability and passes each through.
type Observed struct {
	next    Service
	observe func(op string, d time.Duration, err error)
}

// Operation names given to the hook.
const (
	OpLookup            = "lookup"
	OpLookupExperiments = "lookup_experiments"
	OpLookupAssignment  = "lookup_assignment"
	OpSave              = "save"
	OpSaveFirst         = "save_first"
	OpDelete            = "delete"
)

var (
	_ Service            = (*Observed)(nil)
	_ ScopedLookuper     = (*Observed)(nil)
	_ AssignmentLookuper = (*Observed)(nil)
	_ Deleter            = (*Observed)(nil)
	_ FirstWriter        = (*Observed)(nil)
	_ Closer             = (*Observed)(nil)
)

// NewObserved wraps next; observe is called after every call, from the
// caller's goroutine, and must be fast and safe for concurrent use.
func NewObserved(next Service, observe func(op string, d time.Duration, err error)) (*Observed, error) {
	if next == nil || observe == nil {
		return nil, fmt.Errorf("ups: new observed: next service and hook are required")
	}
	return &Observed{next: next, observe: observe}, nil
}

// Lookup implements Service.
func (o *Observed) Lookup(ctx context.Context, userID string) (Profile, error) {
	start := time.Now()
	p, err := o.next.Lookup(ctx, userID)
	o.observe(OpLookup, time.Since(start), err)
	return p, err
}

// LookupExperiments implements ScopedLookuper, reading the whole profile
// and keeping the requested entries when next cannot scope.
func (o *Observed) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	sl, ok := o.next.(ScopedLookuper)
	if !ok {
		p, err := o.Lookup(ctx, userID)
		if err != nil {
			return Profile{}, err
		}
		return p.subset(experimentIDs, time.Now()), nil
	}
	start := time.Now()
	p, err := sl.LookupExperiments(ctx, userID, experimentIDs)
	o.observe(OpLookupExperiments, time.Since(start), err)
	return p, err
}

// LookupAssignment implements AssignmentLookuper, falling back to a scoped
// lookup when next cannot read single assignments.
func (o *Observed) LookupAssignment(ctx context.Context, userID, experimentID string) (Assignment, bool, error) {
	al, ok := o.next.(AssignmentLookuper)
	if !ok {
		p, err := o.LookupExperiments(ctx, userID, []string{experimentID})
		if err != nil {
			return Assignment{}, false, err
		}
		a, found := p.Assignments[experimentID]
		return a, found, nil
	}
	start := time.Now()
	a, found, err := al.LookupAssignment(ctx, userID, experimentID)
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

// SaveFirst implements FirstWriter when next does.
func (o *Observed) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	fw, ok := o.next.(FirstWriter)
	if !ok {
		return Profile{}, fmt.Errorf("ups: save first user %q: %T cannot write first-writer-wins", p.UserID, o.next)
	}
	start := time.Now()
	won, err := fw.SaveFirst(ctx, p)
	o.observe(OpSaveFirst, time.Since(start), err)
	return won, err
}

// Delete implements Deleter when next does.
func (o *Observed) Delete(ctx context.Context, userID string) error {
	d, ok := o.next.(Deleter)
	if !ok {
		return fmt.Errorf("ups: delete user %q: %T cannot delete", userID, o.next)
	}
	start := time.Now()
	err := d.Delete(ctx, userID)
	o.observe(OpDelete, time.Since(start), err)
	return err
}

// Close closes next if it is a Closer; Observed itself holds nothing.
func (o *Observed) Close(ctx context.Context) error {
	if c, ok := o.next.(Closer); ok {
		return c.Close(ctx)
	}
	return nil
}
