package ups

import (
	"fmt"
	"time"
)

// MaxRetention is Cassandra's largest TTL (20 years). Stores built on other
// backends honour the same bound so a configuration is portable.
const MaxRetention = 630720000 * time.Second

// Retention says how long an assignment stays sticky. Zero means forever.
type Retention struct {
	// Default applies to every experiment without an override.
	Default time.Duration
	// PerExperiment overrides Default, keyed by experiment ID. A zero value
	// keeps that experiment's assignments forever.
	PerExperiment map[string]time.Duration
}

// For returns the retention that applies to experimentID.
func (r Retention) For(experimentID string) time.Duration {
	if d, ok := r.PerExperiment[experimentID]; ok {
		return d
	}
	return r.Default
}

// Stamp returns a as a store keeps it when it is saved at now: its
// DecidedAt, or now when a carries none (a refreshed assignment keeps the
// time it was first decided); and an ExpiresAt of now plus the retention
// of experimentID, or none when that retention keeps it forever. Every
// store and layer that shows a saved assignment before reading it back
// stamps it here.
func (r Retention) Stamp(experimentID string, a Assignment, now time.Time) Assignment {
	rec := Assignment{VariationID: a.VariationID, DecidedAt: a.DecidedAt}
	if rec.DecidedAt.IsZero() {
		rec.DecidedAt = now
	}
	if d := r.For(experimentID); d > 0 {
		rec.ExpiresAt = now.Add(d)
	}
	return rec
}

// Validate rejects retentions that a Cassandra TTL cannot express.
func (r Retention) Validate() error {
	if err := validateRetention(r.Default); err != nil {
		return fmt.Errorf("default retention: %w", err)
	}
	for id, d := range r.PerExperiment {
		if id == "" {
			return fmt.Errorf("retention override: experiment ID is empty")
		}
		if err := validateRetention(d); err != nil {
			return fmt.Errorf("retention override for experiment %q: %w", id, err)
		}
	}
	return nil
}

func validateRetention(d time.Duration) error {
	switch {
	case d < 0:
		return fmt.Errorf("%s is negative", d)
	case d > MaxRetention:
		return fmt.Errorf("%s exceeds the maximum of %s (Cassandra's 20-year TTL limit)", d, MaxRetention)
	case d%time.Second != 0:
		// Cassandra TTLs are whole seconds; silently rounding would make
		// the configured value a lie.
		return fmt.Errorf("%s is not a whole number of seconds", d)
	}
	return nil
}

// TTLSeconds converts a validated retention into a Cassandra TTL.
func TTLSeconds(d time.Duration) int {
	return int(d / time.Second)
}
