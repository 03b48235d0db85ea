package ups

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// MemoryOverridesOptions configures NewMemoryOverrides.
type MemoryOverridesOptions struct {
	// TTL is how long an override lives after it was set; zero means
	// DefaultOverrideTTL. See ValidateOverrideTTL.
	TTL time.Duration
	// MaxOverrides bounds the live overrides kept; a set beyond it fails
	// with ErrOverridesFull. Zero means DefaultMaxMemoryOverrides.
	MaxOverrides int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxMemoryOverrides is the bound of a zero
// MemoryOverridesOptions.MaxOverrides.
const DefaultMaxMemoryOverrides = 100_000

// ErrOverridesFull is returned by SetOverride on a MemoryOverrides that
// holds its MaxOverrides live overrides.
var ErrOverridesFull = errors.New("ups: overrides: store full")

// MemoryOverrides keeps overrides in this process (the memory store's
// counterpart): each server of a fleet has its own. Safe for concurrent
// use.
type MemoryOverrides struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu sync.Mutex
	n  int                                       // overrides held, expired ones included
	m  map[overrideUser]map[string]overrideValue // experiment key → value
}

type overrideUser struct{ scope, userID string }

type overrideValue struct {
	variationKey string
	expires      time.Time
}

var _ Overrides = (*MemoryOverrides)(nil)

// NewMemoryOverrides returns an empty store, or an error if o is out of
// range.
func NewMemoryOverrides(o MemoryOverridesOptions) (*MemoryOverrides, error) {
	if o.TTL == 0 {
		o.TTL = DefaultOverrideTTL
	}
	if err := ValidateOverrideTTL(o.TTL); err != nil {
		return nil, fmt.Errorf("ups: new memory overrides: %w", err)
	}
	if o.MaxOverrides < 0 {
		return nil, fmt.Errorf("ups: new memory overrides: negative MaxOverrides %d", o.MaxOverrides)
	}
	if o.MaxOverrides == 0 {
		o.MaxOverrides = DefaultMaxMemoryOverrides
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &MemoryOverrides{ttl: o.TTL, max: o.MaxOverrides, now: o.Now, m: map[overrideUser]map[string]overrideValue{}}, nil
}

// UserOverrides returns the user's live overrides in scope.
func (s *MemoryOverrides) UserOverrides(ctx context.Context, scope, userID string) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := overrideUser{scope, userID}
	var out map[string]string
	for exp, v := range s.m[u] {
		if !now.Before(v.expires) {
			s.dropLocked(u, exp)
			continue
		}
		if out == nil {
			out = make(map[string]string, len(s.m[u]))
		}
		out[exp] = v.variationKey
	}
	return out, nil
}

// SetOverride stores variationKey for k until now + TTL.
func (s *MemoryOverrides) SetOverride(ctx context.Context, k OverrideKey, variationKey string) (string, bool, error) {
	if err := ValidateOverride(k, variationKey); err != nil {
		return "", false, fmt.Errorf("ups: set override: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := overrideUser{k.Scope, k.UserID}
	prev, ok := s.liveLocked(u, k.ExperimentKey, now)
	if _, held := s.m[u][k.ExperimentKey]; !held && len(s.m[u]) >= MaxUserOverrides {
		return "", false, fmt.Errorf("%w: user %q has %d overrides (the limit); remove some or wait for them to expire", ErrOverridesFull, k.UserID, len(s.m[u]))
	}
	if !ok && s.n >= s.max {
		s.purgeLocked(now)
		if s.n >= s.max {
			return "", false, fmt.Errorf("%w: %d live overrides (the limit); remove some or wait for them to expire", ErrOverridesFull, s.n)
		}
	}
	exps := s.m[u]
	if exps == nil {
		exps = map[string]overrideValue{}
		s.m[u] = exps
	}
	if _, held := exps[k.ExperimentKey]; !held {
		s.n++
	}
	exps[k.ExperimentKey] = overrideValue{variationKey: variationKey, expires: now.Add(s.ttl)}
	return prev, ok, nil
}

// RemoveOverride removes k's override.
func (s *MemoryOverrides) RemoveOverride(ctx context.Context, k OverrideKey) (string, bool, error) {
	if err := k.Validate(); err != nil {
		return "", false, fmt.Errorf("ups: remove override: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	u := overrideUser{k.Scope, k.UserID}
	prev, ok := s.liveLocked(u, k.ExperimentKey, now)
	s.dropLocked(u, k.ExperimentKey)
	return prev, ok, nil
}

// liveLocked returns u's override of exp if it has not expired.
func (s *MemoryOverrides) liveLocked(u overrideUser, exp string, now time.Time) (string, bool) {
	v, ok := s.m[u][exp]
	if !ok || !now.Before(v.expires) {
		return "", false
	}
	return v.variationKey, true
}

func (s *MemoryOverrides) dropLocked(u overrideUser, exp string) {
	exps := s.m[u]
	if _, ok := exps[exp]; !ok {
		return
	}
	delete(exps, exp)
	s.n--
	if len(exps) == 0 {
		delete(s.m, u)
	}
}

// purgeLocked drops every expired override: run only when the store is
// full, so its cost is paid once per MaxOverrides sets at most.
func (s *MemoryOverrides) purgeLocked(now time.Time) {
	for u, exps := range s.m {
		for exp, v := range exps {
			if !now.Before(v.expires) {
				s.dropLocked(u, exp)
			}
		}
	}
}
