package ups

import (
	"context"
	"fmt"
	"time"
)

// Overrides keeps forced variations (Agent's POST /v1/override): for a
// user and an experiment key, the variation key a decision serves before
// whitelisting and before the profile, as the official Go SDK's
// ExperimentOverrideService does. Overrides are kept apart from profiles:
// they are never saved as assignments, and removing one brings back
// whatever the profile holds. Each one lives for the store's TTL after it
// was last set.
//
// Scope separates datafiles (decision uses the datafile's project and
// environment), so two projects' experiments of the same key never see
// each other's overrides.
type Overrides interface {
	// UserOverrides returns the user's live overrides in scope, experiment
	// key → variation key; nil when there are none.
	UserOverrides(ctx context.Context, scope, userID string) (map[string]string, error)
	// SetOverride stores variationKey for k, for the store's TTL, and
	// returns the variation key it replaced (ok false: none).
	SetOverride(ctx context.Context, k OverrideKey, variationKey string) (prev string, ok bool, err error)
	// RemoveOverride removes k's override and returns the variation key it
	// held (ok false: none).
	RemoveOverride(ctx context.Context, k OverrideKey) (prev string, ok bool, err error)
}

// OverrideKey names one override.
type OverrideKey struct {
	Scope, UserID, ExperimentKey string
}

// Bounds of an override's fields and lifetime.
const (
	// MaxOverrideKeyBytes bounds the scope, the experiment key and the
	// variation key of an override (the user ID has MaxUserIDBytes).
	MaxOverrideKeyBytes = 256
	// MaxOverrideTTL bounds how long an override lives: overrides are for
	// QA, not for serving.
	MaxOverrideTTL = 7 * 24 * time.Hour
	// DefaultOverrideTTL is the TTL of a zero OverridesOptions.TTL.
	DefaultOverrideTTL = time.Hour
	// MaxUserOverrides bounds what one read of a user's overrides returns
	// (and the memory store keeps per user), so no decision reads an
	// unbounded partition however many overrides a client set.
	MaxUserOverrides = 1000
)

// Validate reports what in k no store can key an override by: an empty or
// too long user ID, experiment key or scope.
func (k OverrideKey) Validate() error {
	if err := ValidateUserID(k.UserID); err != nil {
		return fmt.Errorf("override: %w", err)
	}
	switch {
	case k.ExperimentKey == "":
		return fmt.Errorf("%w: override: empty experiment key", ErrInvalidProfile)
	case len(k.ExperimentKey) > MaxOverrideKeyBytes:
		return fmt.Errorf("%w: override: experiment key is %d bytes, the limit is %d", ErrInvalidProfile, len(k.ExperimentKey), MaxOverrideKeyBytes)
	case len(k.Scope) > MaxOverrideKeyBytes:
		return fmt.Errorf("%w: override: scope is %d bytes, the limit is %d", ErrInvalidProfile, len(k.Scope), MaxOverrideKeyBytes)
	}
	return nil
}

// ValidateOverride reports what in k or variationKey no store can keep.
func ValidateOverride(k OverrideKey, variationKey string) error {
	if err := k.Validate(); err != nil {
		return err
	}
	if variationKey == "" || len(variationKey) > MaxOverrideKeyBytes {
		return fmt.Errorf("%w: override: variation key is %d bytes, want 1…%d", ErrInvalidProfile, len(variationKey), MaxOverrideKeyBytes)
	}
	return nil
}

// ValidateOverrideTTL reports a TTL outside 1s…MaxOverrideTTL.
func ValidateOverrideTTL(ttl time.Duration) error {
	if ttl < time.Second || ttl > MaxOverrideTTL {
		return fmt.Errorf("override TTL %s is outside 1s…%s", ttl, MaxOverrideTTL)
	}
	return nil
}
