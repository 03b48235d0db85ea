package ups

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Size limits for the identifiers a profile holds.
//
// Cassandra accepts partition keys up to 64 KiB, but a user ID that large is
// a bug upstream (a whole cookie, a JWT) and would make every lookup ship it
// to the coordinator. 512 bytes fits any UUID, email address or opaque ID we
// have seen, with room to spare.
const (
	MaxUserIDBytes       = 512
	MaxExperimentIDBytes = 256
	MaxVariationIDBytes  = 256
	// MaxAssignments bounds how many assignments one Save may carry, so a
	// buggy caller cannot build an unbounded batch for one partition.
	MaxAssignments = 1000
)

// ErrInvalidProfile is wrapped by every validation error, so callers can
// tell bad input (fix the caller) from a failing store (retry or fail open).
var ErrInvalidProfile = errors.New("invalid profile")

// ValidateUserID checks that id can be stored as a partition key.
func ValidateUserID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: user_id is empty", ErrInvalidProfile)
	case len(id) > MaxUserIDBytes:
		return fmt.Errorf("%w: user_id is %d bytes, the limit is %d", ErrInvalidProfile, len(id), MaxUserIDBytes)
	case !utf8.ValidString(id):
		// Cassandra's text type rejects invalid UTF-8 at write time; fail
		// here with a clearer message instead.
		return fmt.Errorf("%w: user_id is not valid UTF-8", ErrInvalidProfile)
	}
	return nil
}

// Validate checks the whole profile before anything is written, so an
// invalid entry never leaves a half-saved profile behind.
func (p Profile) Validate() error {
	if err := ValidateUserID(p.UserID); err != nil {
		return err
	}
	if len(p.Assignments) > MaxAssignments {
		return fmt.Errorf("%w: user %q: %d assignments, the limit is %d", ErrInvalidProfile, clip(p.UserID), len(p.Assignments), MaxAssignments)
	}
	for expID, a := range p.Assignments {
		if err := validateID("experiment ID", expID, MaxExperimentIDBytes); err != nil {
			return fmt.Errorf("user %q: %w", clip(p.UserID), err)
		}
		if err := validateID("variation_id", a.VariationID, MaxVariationIDBytes); err != nil {
			return fmt.Errorf("user %q: experiment %q: %w", clip(p.UserID), clip(expID), err)
		}
	}
	return nil
}

func validateID(field, v string, limit int) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidProfile, field)
	case len(v) > limit:
		return fmt.Errorf("%w: %s is %d bytes, the limit is %d", ErrInvalidProfile, field, len(v), limit)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidProfile, field)
	}
	return nil
}
