package ups

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"
)

// CacheOptions configures NewCache.
type CacheOptions struct {
	// Size is how many users' profiles are kept; least recently used ones
	// are evicted first. Required.
	Size int
	// TTL bounds how long a cached profile is served without asking the
	// store again, and so how stale it can be when other servers write the
	// same user. An entry is fetched at the cache's clock (Now) and is a
	// miss once TTL has passed on that clock. Required.
	TTL time.Duration
	// Now is the cache's clock, used both for the age of entries and for
	// the expiry of the assignments they hold; nil means time.Now.
	Now func() time.Time
	// ReadTimeout bounds a store read the cache makes on a miss. The read
	// does not end with the context of the caller that started it: a
	// caller that stops waiting (its decision's budget ran out) leaves the
	// read to finish and fill the cache, so the user's next lookup is a
	// hit. Default 10s.
	ReadTimeout time.Duration
	// Retention is the retention of the store underneath. Save, SaveFirst
	// and SaveReplacing use it to stamp the assignments they merge into a cached
	// profile with the ExpiresAt the store gives them, so the cache stops
	// serving them when the store would. The zero value means they never
	// expire, which is right only for a store kept forever.
	Retention Retention
}

// CacheStats counts what a Cache did since it was made.
type CacheStats struct {
	// Hits are lookups served from a live entry.
	Hits uint64
	// Misses are lookups that found no live entry and read through.
	Misses uint64
	// StoreReads are reads of the next Service. Concurrent misses for one
	// user share one read, so StoreReads can be far below Misses.
	StoreReads uint64
	// Uncached are store reads whose result was not cached because a write
	// of a user in the same stripe ran while they read.
	Uncached uint64
}

// cacheStripes is how many generation counters guard against caching a
// stale read. A write bumps the counter of its user's stripe; two users in
// one stripe only cost an uncached read now and then.
const cacheStripes = 256

// stripe is the write state of the users whose ID hashes to it.
type stripe struct {
	gen     uint64 // bumped when a write starts and when it ends
	writing int    // writes started and not yet ended
}

// cacheEntry is one cached profile. Its Profile is never modified once the
// entry is published: writes replace it, so readers may copy it outside the
// lock.
type cacheEntry struct {
	p       Profile
	fetched time.Time // by the cache's clock, taken before the read
}

// Cache is a read-through cache in front of another Service. Assignments
// rarely change once made, so a short-lived cache removes most store reads
// for users who trigger several decisions in a row, at the price of up to
// TTL of staleness when another server assigns the same user.
//
// Writes made through the cache are seen by the lookups that start after
// them: Save, SaveFirst and SaveReplacing write through and then merge
// into the cached entry, Delete forgets it, and a read that raced with a write of its user
// is returned to its callers but never cached. Concurrent misses for one
// user share one store read. The cache starts no goroutine.
type Cache struct {
	next      Service
	first     FirstWriter // nil when the store under next is not one
	replacer  Replacer    // nil when the store under next is not one
	deleter   Deleter     // nil when the store under next is not one
	ttl       time.Duration
	readFor   time.Duration
	now       func() time.Time
	retention Retention
	seed      maphash.Seed
	flight    singleflight.Group

	mu      sync.Mutex
	lru     *simplelru.LRU[string, *cacheEntry]
	stripes [cacheStripes]stripe
	closed  bool

	hits, misses, reads, uncached atomic.Uint64
}

// NewCache wraps next.
func NewCache(next Service, opts CacheOptions) (*Cache, error) {
	switch {
	case next == nil:
		return nil, errors.New("ups: new cache: next service is nil")
	case opts.Size <= 0:
		return nil, fmt.Errorf("ups: new cache: size must be positive, got %d", opts.Size)
	case opts.TTL <= 0:
		return nil, fmt.Errorf("ups: new cache: TTL must be positive, got %s", opts.TTL)
	case opts.ReadTimeout < 0:
		return nil, fmt.Errorf("ups: new cache: ReadTimeout must not be negative, got %s", opts.ReadTimeout)
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 10 * time.Second
	}
	if err := opts.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("ups: new cache: %w", err)
	}
	lru, err := simplelru.NewLRU[string, *cacheEntry](opts.Size, nil)
	if err != nil {
		return nil, fmt.Errorf("ups: new cache of size %d: %w", opts.Size, err)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	c := &Cache{
		next:      next,
		ttl:       opts.TTL,
		readFor:   opts.ReadTimeout,
		now:       now,
		retention: opts.Retention,
		seed:      maphash.MakeSeed(),
		lru:       lru,
	}
	c.first, _ = As[FirstWriter](next)
	c.replacer, _ = As[Replacer](next)
	c.deleter, _ = As[Deleter](next)
	return c, nil
}

// Unwrap returns the Service the cache wraps.
func (c *Cache) Unwrap() Service { return c.next }

// Lookup serves a copy of the cached profile when it has a live one, else
// reads through. Errors are not cached.
func (c *Cache) Lookup(ctx context.Context, userID string) (Profile, error) {
	p, err := c.profile(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	return liveCopy(p, c.now()), nil
}

// LookupExperiments serves the requested assignments from the cached
// profile, reading the whole profile through on a miss so later calls for
// other experiments hit the cache too.
func (c *Cache) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	p, err := c.profile(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	return p.subset(experimentIDs, c.now()), nil
}

// LookupAssignment returns one live assignment. On a hit it allocates
// nothing; a miss reads the whole profile through, as Lookup does.
func (c *Cache) LookupAssignment(ctx context.Context, userID, experimentID string) (Assignment, bool, error) {
	p, err := c.profile(ctx, userID)
	if err != nil {
		return Assignment{}, false, err
	}
	a, ok := p.Assignments[experimentID]
	if !ok || !live(a, c.now()) {
		return Assignment{}, false, nil
	}
	return a, true, nil
}

// profile returns the user's cached profile, reading it through on a miss.
// The result is shared: callers copy it and never modify it.
func (c *Cache) profile(ctx context.Context, userID string) (Profile, error) {
	if err := ctx.Err(); err != nil {
		return Profile{}, fmt.Errorf("ups: cache: lookup user %q: %w", userID, err)
	}
	if err := ValidateUserID(userID); err != nil {
		return Profile{}, fmt.Errorf("ups: cache: lookup: %w", err)
	}
	p, ok, err := c.cached(userID)
	if err != nil {
		return Profile{}, err
	}
	if ok {
		c.hits.Add(1)
		return p, nil
	}
	c.misses.Add(1)
	return c.readThrough(ctx, userID)
}

// cached returns the user's entry if it is live by the cache's clock.
func (c *Cache) cached(userID string) (Profile, bool, error) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return Profile{}, false, fmt.Errorf("ups: cache: lookup user %q: %w", userID, ErrClosed)
	}
	e, ok := c.lru.Get(userID)
	if !ok {
		return Profile{}, false, nil
	}
	if now.Sub(e.fetched) >= c.ttl {
		c.lru.Remove(userID)
		return Profile{}, false, nil
	}
	return e.p, true, nil
}

// flightRetries bounds how often a caller starts over when the shared read
// it joined failed because the caller that led it went away.
const flightRetries = 2

// readThrough makes one store read for all concurrent misses of userID.
// Each caller waits for it only as long as its own ctx allows; the read
// itself runs to its end (ReadTimeout at most) and fills the cache, so a
// caller that gave up finds the user cached on its next lookup.
func (c *Cache) readThrough(ctx context.Context, userID string) (Profile, error) {
	for attempt := 0; ; attempt++ {
		ch := c.flight.DoChan(userID, func() (any, error) {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.readFor)
			defer cancel()
			return c.fill(rctx, userID)
		})
		select {
		case r := <-ch:
			if r.Err == nil {
				return r.Val.(Profile), nil
			}
			// The read ran out of its own time (ReadTimeout). If ours
			// is left, try again rather than fail.
			if ctx.Err() == nil && r.Shared && attempt < flightRetries &&
				(errors.Is(r.Err, context.Canceled) || errors.Is(r.Err, context.DeadlineExceeded)) {
				continue
			}
			return Profile{}, r.Err
		case <-ctx.Done():
			return Profile{}, fmt.Errorf("ups: cache: lookup user %q: %w", userID, context.Cause(ctx))
		}
	}
}

// fill is the shared read: it reads the user through and caches the
// result unless a write of the user's stripe ran meanwhile.
func (c *Cache) fill(ctx context.Context, userID string) (Profile, error) {
	s := c.stripe(userID)
	now := c.now()
	c.mu.Lock()
	if e, ok := c.lru.Get(userID); ok && now.Sub(e.fetched) < c.ttl {
		// An earlier read cached it after this caller missed.
		c.mu.Unlock()
		return e.p, nil
	}
	gen, clean := s.gen, s.writing == 0
	c.mu.Unlock()

	c.reads.Add(1)
	p, err := c.next.Lookup(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	if p.Assignments == nil {
		p.Assignments = map[string]Assignment{}
	}
	c.mu.Lock()
	if clean && s.gen == gen && !c.closed {
		c.lru.Add(userID, &cacheEntry{p: p, fetched: now})
	} else {
		c.uncached.Add(1)
	}
	c.mu.Unlock()
	return p, nil
}

func (c *Cache) stripe(userID string) *stripe {
	return &c.stripes[maphash.String(c.seed, userID)%cacheStripes]
}

// beginWrite marks a write of userID as running, so no read that overlaps
// it is cached.
func (c *Cache) beginWrite(userID string, op string) (*stripe, error) {
	s := c.stripe(userID)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("ups: cache: %s user %q: %w", op, userID, ErrClosed)
	}
	s.writing++
	s.gen++
	return s, nil
}

// endWrite applies the write's outcome to the cached entry, if any, and
// marks the write as done. update returns the entry's new profile, or
// false to forget the entry.
func (c *Cache) endWrite(userID string, s *stripe, update func(Profile) (Profile, bool)) {
	c.mu.Lock()
	if e, ok := c.lru.Peek(userID); ok {
		if p, keep := update(e.p); keep {
			// Replace, never modify: readers may be copying e.p.
			c.lru.Add(userID, &cacheEntry{p: p, fetched: e.fetched})
		} else {
			c.lru.Remove(userID)
		}
	}
	s.writing--
	s.gen++
	c.mu.Unlock()
	// Lookups that start from now on must not join a read that began
	// before this write was done.
	c.flight.Forget(userID)
}

// forget is an endWrite update that drops the entry.
func forget(Profile) (Profile, bool) { return Profile{}, false }

// Save writes through, then merges the new assignments into the cached
// profile so the next lookup on this server sees them. A failed save
// forgets the cached profile: the store may have applied part of it.
func (c *Cache) Save(ctx context.Context, p Profile) error {
	s, err := c.beginWrite(p.UserID, "save")
	if err != nil {
		return err
	}
	start := c.now()
	p = decided(p, start)
	err = c.next.Save(ctx, p)
	if err != nil {
		c.endWrite(p.UserID, s, forget)
		return err
	}
	c.endWrite(p.UserID, s, func(cached Profile) (Profile, bool) {
		return c.merge(cached, p.Assignments, nil, start), true
	})
	return nil
}

// SaveFirst writes through to the next store's SaveFirst and merges into
// the cached profile both the assignments it wrote and the stored ones
// that won over them.
func (c *Cache) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	if c.first == nil {
		return Profile{}, unsupported("cache", "save first for", p.UserID, "FirstWriter")
	}
	s, err := c.beginWrite(p.UserID, "save first")
	if err != nil {
		return Profile{}, err
	}
	start := c.now()
	p = decided(p, start)
	won, err := c.first.SaveFirst(ctx, p)
	if err != nil {
		c.endWrite(p.UserID, s, forget)
		return Profile{}, err
	}
	c.endWrite(p.UserID, s, func(cached Profile) (Profile, bool) {
		return c.merge(cached, p.Assignments, won.Assignments, start), true
	})
	return won, nil
}

// SaveReplacing writes through to the next store's SaveReplacing and
// merges into the cached profile both the assignments it wrote and the
// stored ones that won over them, as SaveFirst does.
func (c *Cache) SaveReplacing(ctx context.Context, p Profile, was map[string]Assignment) (Profile, error) {
	if c.replacer == nil {
		return Profile{}, unsupported("cache", "save replacing for", p.UserID, "Replacer")
	}
	s, err := c.beginWrite(p.UserID, "save replacing")
	if err != nil {
		return Profile{}, err
	}
	start := c.now()
	p = decided(p, start)
	won, err := c.replacer.SaveReplacing(ctx, p, was)
	if err != nil {
		c.endWrite(p.UserID, s, forget)
		return Profile{}, err
	}
	c.endWrite(p.UserID, s, func(cached Profile) (Profile, bool) {
		return c.merge(cached, p.Assignments, won.Assignments, start), true
	})
	return won, nil
}

// decided returns p with the assignments that carry no DecidedAt stamped
// with start, so the store below keeps the very decision time the cache
// shows, which a later conditional write (SaveReplacing) names; p itself
// when every assignment carries one.
func decided(p Profile, start time.Time) Profile {
	for _, a := range p.Assignments {
		if a.DecidedAt.IsZero() {
			out := Profile{UserID: p.UserID, Assignments: make(map[string]Assignment, len(p.Assignments))}
			for expID, a := range p.Assignments {
				if a.DecidedAt.IsZero() {
					a.DecidedAt = start
				}
				out.Assignments[expID] = a
			}
			return out
		}
	}
	return p
}

// merge returns a copy of cached holding the assignments written at start,
// stamped as the store stamps them, and the stored ones that won over
// them, as the store returned them.
func (c *Cache) merge(cached Profile, written, won map[string]Assignment, start time.Time) Profile {
	out := Profile{UserID: cached.UserID, Assignments: make(map[string]Assignment, len(cached.Assignments)+len(written))}
	for expID, a := range cached.Assignments {
		if live(a, start) {
			out.Assignments[expID] = a
		}
	}
	for expID, a := range written {
		if _, lost := won[expID]; lost {
			continue
		}
		out.Assignments[expID] = c.retention.Stamp(expID, a, start)
	}
	for expID, a := range won {
		out.Assignments[expID] = a
	}
	return out
}

// Delete erases the user in the next store, which must be a Deleter all
// the way down (As), and forgets the cached copy.
func (c *Cache) Delete(ctx context.Context, userID string) error {
	if c.deleter == nil {
		return unsupported("cache", "delete", userID, "Deleter")
	}
	s, err := c.beginWrite(userID, "delete")
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.lru.Remove(userID)
	c.mu.Unlock()
	err = c.deleter.Delete(ctx, userID)
	c.endWrite(userID, s, forget)
	return err
}

// Close drops every cached profile, makes later calls fail with ErrClosed
// and closes the next Service if it is a Closer; a second Close does
// nothing. The cache runs no goroutine, so there is nothing to wait for.
func (c *Cache) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.lru.Purge()
	c.mu.Unlock()
	if err := Close(ctx, c.next); err != nil {
		return fmt.Errorf("ups: cache: close next: %w", err)
	}
	return nil
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	return CacheStats{
		Hits:       c.hits.Load(),
		Misses:     c.misses.Load(),
		StoreReads: c.reads.Load(),
		Uncached:   c.uncached.Load(),
	}
}
