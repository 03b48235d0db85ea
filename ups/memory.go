package ups

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MemoryOptions configures NewMemory.
type MemoryOptions struct {
	// Retention sets how long assignments stay sticky, as in the Cassandra
	// store. The zero value keeps them forever.
	Retention Retention
	// MaxBytes bounds what the store holds, counted as the bytes of its
	// IDs plus a fixed overhead per user and per assignment (about what
	// the Go maps cost). Beyond it, saves evict users: one whose
	// assignments all expired, else the least recently used of a small
	// random sample (as Redis approximates LRU). Zero: no bound.
	MaxBytes int64
	// Now is the clock; nil means time.Now. Tests set it to move time.
	Now func() time.Time
}

// Sizes the store counts against MaxBytes besides the IDs themselves:
// a map entry, an Assignment (two time.Time) and the map's share, per
// assignment; the user's entry and map header, per user. Measured: 3,000
// users of 1,000 assignments into a 64 MiB store left 65 MiB of heap.
const (
	memAssignmentOverhead = 208
	memUserOverhead       = 128
	// MinMemoryBytes is the least MaxBytes accepted: one user with the
	// most assignments a save can carry fits.
	MinMemoryBytes = 1 << 20
)

// Memory is an in-process Service with the same semantics as the Cassandra
// store: per-assignment upserts and per-assignment expiry. It suits tests,
// single-process tools, the CLI and a single `serve`; it does not share
// state across processes. Expired assignments are reclaimed as users come
// back and, a few at a time, on every save; MaxBytes bounds the rest.
type Memory struct {
	retention Retention
	maxBytes  int64
	now       func() time.Time

	mu     sync.RWMutex
	users  map[string]*memUser
	bytes  int64 // counted as MaxBytes says; guarded by mu
	closed bool

	evicted, expired atomic.Uint64
}

// memUser is what the store holds for one user.
type memUser struct {
	assignments map[string]Assignment
	bytes       int64        // this user's share of Memory.bytes
	used        atomic.Int64 // last lookup or save, UnixNano by the clock
}

// MemoryStats counts what a Memory holds and has let go of.
type MemoryStats struct {
	// Users and Bytes are what it holds now (expired assignments not yet
	// reclaimed included).
	Users int
	Bytes int64
	// Evicted counts users dropped to stay under MaxBytes; Expired counts
	// expired assignments reclaimed.
	Evicted, Expired uint64
}

// Memory is a store with every optional capability.
var (
	_ Service            = (*Memory)(nil)
	_ ScopedLookuper     = (*Memory)(nil)
	_ AssignmentLookuper = (*Memory)(nil)
	_ Deleter            = (*Memory)(nil)
	_ FirstWriter        = (*Memory)(nil)
	_ Replacer           = (*Memory)(nil)
	_ Closer             = (*Memory)(nil)
)

// NewMemory returns an empty store, or an error if the retention is one a
// Cassandra TTL could not express.
func NewMemory(opts MemoryOptions) (*Memory, error) {
	if err := opts.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("ups: new memory store: %w", err)
	}
	if opts.MaxBytes != 0 && opts.MaxBytes < MinMemoryBytes {
		return nil, fmt.Errorf("ups: new memory store: MaxBytes %d is below the minimum of %d", opts.MaxBytes, MinMemoryBytes)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Memory{retention: opts.Retention, maxBytes: opts.MaxBytes, now: now, users: map[string]*memUser{}}, nil
}

// Stats returns what the store holds and has let go of.
func (m *Memory) Stats() MemoryStats {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return MemoryStats{Users: len(m.users), Bytes: m.bytes, Evicted: m.evicted.Load(), Expired: m.expired.Load()}
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
	u := m.users[userID]
	if u == nil {
		return Assignment{}, false, nil
	}
	u.used.Store(now.UnixNano())
	a, ok := u.assignments[experimentID]
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
	var stored map[string]Assignment
	if u := m.users[userID]; u != nil {
		u.used.Store(now.UnixNano())
		stored = u.assignments
	}
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
	_, err := m.save(ctx, p, nil)
	return err
}

// SaveFirst writes only the assignments whose experiment has no live
// assignment for the user, and returns the ones already there.
func (m *Memory) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	return m.save(ctx, p, func(string, Assignment) bool { return true })
}

// SaveReplacing writes only the assignments whose experiment holds no live
// assignment or still the one in was (Replacer), and returns the live ones
// that won over them.
func (m *Memory) SaveReplacing(ctx context.Context, p Profile, was map[string]Assignment) (Profile, error) {
	return m.save(ctx, p, func(expID string, stored Assignment) bool {
		w, ok := was[expID]
		return !ok || !stored.SameDecision(w)
	})
}

// save writes p's assignments; where the user holds a live one, keeps
// (nil: never) says whether it stays, and those that stay are returned.
func (m *Memory) save(ctx context.Context, p Profile, keeps func(expID string, stored Assignment) bool) (Profile, error) {
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
	u := m.users[p.UserID]
	if u == nil {
		u = &memUser{assignments: make(map[string]Assignment, len(p.Assignments)), bytes: memUserOverhead + int64(len(p.UserID))}
		m.users[p.UserID] = u
		m.bytes += u.bytes
	}
	u.used.Store(now.UnixNano())
	m.reclaim(u, now) // as users come back
	for expID, a := range p.Assignments {
		old, had := u.assignments[expID]
		if had && keeps != nil && keeps(expID, old) {
			won.Assignments[expID] = old
			continue
		}
		if had {
			m.add(u, -assignmentBytes(expID, old))
		}
		a = m.retention.Stamp(expID, a, now)
		u.assignments[expID] = a
		m.add(u, assignmentBytes(expID, a))
	}
	m.sweep(now, p.UserID)
	m.evict(p.UserID)
	return won, nil
}

func assignmentBytes(expID string, a Assignment) int64 {
	return memAssignmentOverhead + int64(len(expID)+len(a.VariationID))
}

// add counts n more bytes for u. m.mu is held.
func (m *Memory) add(u *memUser, n int64) {
	u.bytes += n
	m.bytes += n
}

// reclaim drops u's expired assignments. m.mu is held.
func (m *Memory) reclaim(u *memUser, now time.Time) {
	for expID, a := range u.assignments {
		if !live(a, now) {
			delete(u.assignments, expID)
			m.add(u, -assignmentBytes(expID, a))
			m.expired.Add(1)
		}
	}
}

// sweepUsers is how many other users a save reclaims expired assignments
// of, so users who never come back do not keep them forever.
const sweepUsers = 2

// sweep reclaims the expired assignments of a few users (Go's map
// iteration starts at a random place), dropping those left with none.
// keep is the user being saved. m.mu is held.
func (m *Memory) sweep(now time.Time, keep string) {
	n := 0
	for id, u := range m.users {
		if n == sweepUsers {
			return
		}
		n++
		if id == keep {
			continue
		}
		m.reclaim(u, now)
		if len(u.assignments) == 0 {
			m.drop(id, u)
		}
	}
}

// evictSample is how many users eviction compares.
const evictSample = 8

// evict drops users until the store is under MaxBytes: of a small random
// sample, the least recently used (never keep, the user being saved,
// unless alone). Each sample is the first user of its own range over the
// map: Go starts every range at a random place, while the users one range
// yields in a row sit together in the map and are no sample at all (a
// user in use would be evicted as the oldest of a group of new ones).
// m.mu is held.
func (m *Memory) evict(keep string) {
	for m.maxBytes > 0 && m.bytes > m.maxBytes && len(m.users) > 1 {
		var (
			victim string
			oldest int64
		)
		for range evictSample {
			for id, u := range m.users {
				if id == keep {
					continue
				}
				if used := u.used.Load(); victim == "" || used < oldest {
					victim, oldest = id, used
				}
				break
			}
		}
		m.drop(victim, m.users[victim])
		m.evicted.Add(1)
	}
}

// drop forgets a user. m.mu is held.
func (m *Memory) drop(id string, u *memUser) {
	m.bytes -= u.bytes
	delete(m.users, id)
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
	if u := m.users[userID]; u != nil {
		m.drop(userID, u)
	}
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
	for userID, u := range m.users {
		p := Profile{UserID: userID, Assignments: map[string]Assignment{}}
		for expID, a := range u.assignments {
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
