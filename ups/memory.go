package ups

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MemoryOptions configures NewMemory.
type MemoryOptions struct {
	// Retention sets how long assignments stay sticky, as in the Cassandra
	// store. The zero value keeps them forever.
	Retention Retention
	// Now is the clock; nil means time.Now. Tests set it to move time.
	Now func() time.Time
}

// Memory is an in-process Service with the same semantics as the Cassandra
// store: per-assignment upserts and per-assignment expiry. It suits tests,
// single-process tools and the CLI; it does not share state across
// processes.
type Memory struct {
	retention Retention
	now       func() time.Time

	mu     sync.RWMutex
	users  map[string]map[string]Assignment
	closed bool
}

// Memory is a store with every optional capability.
var (
	_ Service            = (*Memory)(nil)
	_ ScopedLookuper     = (*Memory)(nil)
	_ AssignmentLookuper = (*Memory)(nil)
	_ Deleter            = (*Memory)(nil)
	_ FirstWriter        = (*Memory)(nil)
	_ Closer             = (*Memory)(nil)
)

// NewMemory returns an empty store, or an error if the retention is one a
// Cassandra TTL could not express.
func NewMemory(opts MemoryOptions) (*Memory, error) {
	if err := opts.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("ups: new memory store: %w", err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Memory{retention: opts.Retention, now: now, users: map[string]map[string]Assignment{}}, nil
}

// Lookup returns a copy of the user's unexpired assignments.
func (m *Memory) Lookup(ctx context.Context, userID string) (Profile, error) {
	return m.lookup(ctx, userID, nil, true)
}

// LookupExperiments is Lookup restricted to experimentIDs.
func (m *Memory) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	return m.lookup(ctx, userID, experimentIDs, false)
}

// LookupAssignment returns the user's live assignment in experimentID.
func (m *Memory) LookupAssignment(ctx context.Context, userID, experimentID string) (Assignment, bool, error) {
	if err := ctx.Err(); err != nil {
		return Assignment{}, false, fmt.Errorf("ups: lookup user %q: %w", userID, err)
	}
	if err := ValidateUserID(userID); err != nil {
		return Assignment{}, false, fmt.Errorf("ups: lookup: %w", err)
	}
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Assignment{}, false, fmt.Errorf("ups: lookup user %q: %w", userID, ErrClosed)
	}
	a, ok := m.users[userID][experimentID]
	if !ok || !live(a, now) {
		return Assignment{}, false, nil
	}
	return a, true, nil
}

// lookup copies the user's live assignments: all of them, or those of ids.
func (m *Memory) lookup(ctx context.Context, userID string, ids []string, all bool) (Profile, error) {
	if err := ctx.Err(); err != nil {
		return Profile{}, fmt.Errorf("ups: lookup user %q: %w", userID, err)
	}
	if err := ValidateUserID(userID); err != nil {
		return Profile{}, fmt.Errorf("ups: lookup: %w", err)
	}
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return Profile{}, fmt.Errorf("ups: lookup user %q: %w", userID, ErrClosed)
	}
	stored := m.users[userID]
	p := Profile{UserID: userID, Assignments: stored}
	if all {
		return liveCopy(p, now), nil
	}
	return p.subset(ids, now), nil
}

// Save upserts each assignment of p, stamping ExpiresAt from the store's
// clock and retention and DecidedAt from the clock unless the assignment
// carries one. Nothing is written if p is invalid.
func (m *Memory) Save(ctx context.Context, p Profile) error {
	_, err := m.save(ctx, p, false)
	return err
}

// SaveFirst writes only the assignments whose experiment has no live
// assignment for the user, and returns the ones already there.
func (m *Memory) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	return m.save(ctx, p, true)
}

func (m *Memory) save(ctx context.Context, p Profile, firstOnly bool) (Profile, error) {
	if err := ctx.Err(); err != nil {
		return Profile{}, fmt.Errorf("ups: save user %q: %w", p.UserID, err)
	}
	if err := p.Validate(); err != nil {
		return Profile{}, fmt.Errorf("ups: save: %w", err)
	}
	now := m.now()
	won := NewProfile(p.UserID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Profile{}, fmt.Errorf("ups: save user %q: %w", p.UserID, ErrClosed)
	}
	stored := m.users[p.UserID]
	if stored == nil {
		stored = make(map[string]Assignment, len(p.Assignments))
		m.users[p.UserID] = stored
	}
	for expID, a := range stored {
		if !live(a, now) {
			delete(stored, expID) // reclaim memory as users come back
		}
	}
	for expID, a := range p.Assignments {
		if old, ok := stored[expID]; ok && firstOnly {
			won.Assignments[expID] = old
			continue
		}
		stored[expID] = m.retention.Stamp(expID, a, now)
	}
	return won, nil
}

// Delete erases every assignment of userID.
func (m *Memory) Delete(ctx context.Context, userID string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ups: delete user %q: %w", userID, err)
	}
	if err := ValidateUserID(userID); err != nil {
		return fmt.Errorf("ups: delete: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("ups: delete user %q: %w", userID, ErrClosed)
	}
	delete(m.users, userID)
	return nil
}

// Close makes later calls fail with ErrClosed; a second Close does
// nothing. Memory starts no goroutine, so there is nothing to wait for;
// Profiles still reads what is held.
func (m *Memory) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

// Profiles returns copies of every profile with at least one live
// assignment, sorted by user ID so dumps are stable.
func (m *Memory) Profiles() []Profile {
	now := m.now()
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Profile, 0, len(m.users))
	for userID, stored := range m.users {
		p := Profile{UserID: userID, Assignments: map[string]Assignment{}}
		for expID, a := range stored {
			if live(a, now) {
				p.Assignments[expID] = a
			}
		}
		if !p.Empty() {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b Profile) int { return cmp.Compare(a.UserID, b.UserID) })
	return out
}

func live(a Assignment, now time.Time) bool {
	return a.ExpiresAt.IsZero() || now.Before(a.ExpiresAt)
}
