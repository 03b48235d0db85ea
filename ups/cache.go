package ups

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"
)

// CacheOptions configures NewCache.
type CacheOptions struct {
	// Size is how many users' profiles are kept; least recently used ones
	// are evicted first. Required.
	Size int
	// TTL bounds how long a cached profile is served without asking the
	// store again, and so how stale it can be when other servers write the
	// same user. Required.
	TTL time.Duration
	// Now is the clock used to drop expired assignments from cached
	// profiles; nil means time.Now.
	Now func() time.Time
}

// Cache is a read-through cache in front of another Service. Assignments
// rarely change once made, so a short-lived cache removes most store reads
// for users who trigger several decisions in a row, at the price of up to
// TTL of staleness when another server assigns the same user.
type Cache struct {
	next Service
	lru  *expirable.LRU[string, Profile]
	now  func() time.Time
}

var _ Service = (*Cache)(nil)

// NewCache wraps next.
func NewCache(next Service, opts CacheOptions) (*Cache, error) {
	switch {
	case next == nil:
		return nil, errors.New("ups: new cache: next service is nil")
	case opts.Size <= 0:
		return nil, fmt.Errorf("ups: new cache: size must be positive, got %d", opts.Size)
	case opts.TTL <= 0:
		return nil, fmt.Errorf("ups: new cache: TTL must be positive, got %s", opts.TTL)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Cache{next: next, lru: expirable.NewLRU[string, Profile](opts.Size, nil, opts.TTL), now: now}, nil
}

// Lookup serves a cached copy when it has one, else reads through. Errors
// are not cached.
func (c *Cache) Lookup(ctx context.Context, userID string) (Profile, error) {
	if p, ok := c.lru.Get(userID); ok {
		return liveCopy(p, c.now()), nil
	}
	p, err := c.next.Lookup(ctx, userID)
	if err != nil {
		return Profile{}, err
	}
	c.lru.Add(userID, p.Clone())
	return p, nil
}

var _ ScopedLookuper = (*Cache)(nil)

// LookupExperiments serves the requested assignments from the cached
// profile, reading the whole profile through on a miss so later calls for
// other experiments hit the cache too.
func (c *Cache) LookupExperiments(ctx context.Context, userID string, experimentIDs []string) (Profile, error) {
	p, ok := c.lru.Get(userID)
	if !ok {
		var err error
		if p, err = c.next.Lookup(ctx, userID); err != nil {
			return Profile{}, err
		}
		c.lru.Add(userID, p.Clone())
	}
	return p.subset(experimentIDs, c.now()), nil
}

// Save writes through, then merges the new assignments into the cached
// profile so the next lookup on this server sees them.
func (c *Cache) Save(ctx context.Context, p Profile) error {
	if err := c.next.Save(ctx, p); err != nil {
		return err
	}
	if cached, ok := c.lru.Peek(p.UserID); ok {
		merged := cached.Clone()
		if merged.Assignments == nil {
			merged.Assignments = map[string]Assignment{}
		}
		for expID, a := range p.Assignments {
			merged.Assignments[expID] = a
		}
		c.lru.Add(p.UserID, merged)
	}
	return nil
}

// Delete erases the user in the next store, if it can, and forgets the
// cached copy.
func (c *Cache) Delete(ctx context.Context, userID string) error {
	d, ok := c.next.(Deleter)
	if !ok {
		return fmt.Errorf("ups: cache: delete user %q: %T cannot delete", userID, c.next)
	}
	c.lru.Remove(userID)
	err := d.Delete(ctx, userID)
	c.lru.Remove(userID) // a concurrent lookup may have re-cached it
	return err
}
