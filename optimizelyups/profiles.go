package optimizelyups

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/optimizely/go-sdk/v2/pkg/decision"

	"github.com/stickybucket/stickybucket/ups"
)

// Operation names passed to Options.OnError.
const (
	OpLookup = "lookup"
	OpSave   = "save"
)

// variationField is the only UserDecisionKey field the SDK writes, and the
// only one a ups.Profile can hold.
const variationField = "variation_id"

// Default timeouts. A lookup sits on the path of every decision, so it gets
// a tight bound; a save happens once per new assignment and may take a read
// and a write.
const (
	DefaultLookupTimeout = 50 * time.Millisecond
	DefaultSaveTimeout   = 250 * time.Millisecond
)

// Options configures New. The zero value is usable.
type Options struct {
	// LookupTimeout bounds one Lookup; 0 means DefaultLookupTimeout.
	LookupTimeout time.Duration
	// SaveTimeout bounds one Save, its read of the stored entries included;
	// 0 means DefaultSaveTimeout.
	SaveTimeout time.Duration
	// OnError receives every failure the SDK's interface cannot return: op
	// is OpLookup or OpSave, userID the user concerned. Errors of invalid
	// input wrap ups.ErrInvalidProfile; a store that was too slow gives an
	// error for which ups.Unavailable is true. It is called synchronously
	// from the SDK's decision goroutines, possibly from many at once, so it
	// must be quick and safe for concurrent use. nil drops errors.
	OnError func(op string, userID string, err error)
	// RewriteUnchanged makes Save write every entry the SDK hands over,
	// without first reading which ones the store already holds. That saves
	// a read per new assignment, but restarts the retention of every
	// assignment of the user and stamps them all as decided now. A save
	// after a failed lookup still reads first (see Save).
	RewriteUnchanged bool
}

// ProfileService is the official Go SDK's decision.UserProfileService over a
// ups.Service. It is safe for concurrent use.
type ProfileService struct {
	store ups.Service
	// scoped reads some of a user's entries: the store's scoped read, or
	// made of Lookup when it has none (resolved once).
	scoped ups.ScopedLookuper
	opts   Options

	mu sync.Mutex
	// failed holds the users whose last lookup failed, and when, until
	// their next save: see Save.
	failed map[string]time.Time
}

// A failed lookup is followed by the SDK's save within microseconds; the
// window only bounds how long a mark lives when no save comes. The cap
// bounds memory while the store is down and every lookup fails.
const (
	failedLookupWindow = time.Minute
	maxFailedLookups   = 100_000
)

var _ decision.UserProfileService = (*ProfileService)(nil)

// New returns the SDK-facing service over store; a nil store is an error.
func New(store ups.Service, opts Options) (*ProfileService, error) {
	if store == nil {
		return nil, errors.New("optimizelyups: new: store is nil")
	}
	if opts.LookupTimeout <= 0 {
		opts.LookupTimeout = DefaultLookupTimeout
	}
	if opts.SaveTimeout <= 0 {
		opts.SaveTimeout = DefaultSaveTimeout
	}
	return &ProfileService{store: store, scoped: ups.ScopedLookuperOf(store), opts: opts, failed: map[string]time.Time{}}, nil
}

// Lookup returns the user's live assignments as the SDK's profile. When the
// store fails or does not answer within LookupTimeout, the error goes to
// OnError and the profile is empty, so the SDK buckets the user afresh.
func (s *ProfileService) Lookup(userID string) decision.UserProfile {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.LookupTimeout)
	defer cancel()
	p, err := s.store.Lookup(ctx, userID)
	if err != nil {
		if !errors.Is(err, ups.ErrInvalidProfile) {
			s.markFailed(userID)
		}
		s.report(OpLookup, userID, fmt.Errorf("optimizelyups: lookup user %q: %w", userID, err))
		return decision.UserProfile{ID: userID}
	}
	out := decision.UserProfile{ID: userID, ExperimentBucketMap: make(map[decision.UserDecisionKey]string, len(p.Assignments))}
	for expID, a := range p.Assignments {
		out.ExperimentBucketMap[decision.NewUserDecisionKey(expID)] = a.VariationID
	}
	return out
}

// Save stores the profile's new or changed "variation_id" entries within
// SaveTimeout. Entries of other fields are ignored; entries the store could
// not hold are reported to OnError one by one and skipped. A failed write
// is reported too: the SDK has already served the decision, and the user
// will be bucketed again (to the same variation, unless the experiment's
// traffic changed) on the next decision.
//
// After a failed lookup the SDK saves a fresh bucketing that knew nothing
// of the stored assignments. Written blindly, it would replace the user's
// sticky variation whenever a lookup merely timed out. So the save that
// follows a failed lookup of the same user writes only the experiments the
// store holds no assignment for, and nothing if the store cannot be read.
// Otherwise a changed entry is written: that is how the SDK replaces a
// saved variation the datafile no longer has.
func (s *ProfileService) Save(sdkProfile decision.UserProfile) {
	userID := sdkProfile.ID
	if err := ups.ValidateUserID(userID); err != nil {
		s.report(OpSave, userID, fmt.Errorf("optimizelyups: save: %w", err))
		return
	}
	p := ups.Profile{UserID: userID, Assignments: make(map[string]ups.Assignment, len(sdkProfile.ExperimentBucketMap))}
	for key, variationID := range sdkProfile.ExperimentBucketMap {
		if key.Field != variationField {
			continue
		}
		entry := ups.Profile{UserID: userID, Assignments: map[string]ups.Assignment{key.ExperimentID: {VariationID: variationID}}}
		if err := entry.Validate(); err != nil {
			s.report(OpSave, userID, fmt.Errorf("optimizelyups: save: skipped entry: %w", err))
			continue
		}
		p.Assignments[key.ExperimentID] = ups.Assignment{VariationID: variationID}
	}
	if p.Empty() {
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), s.opts.SaveTimeout)
	defer cancel()
	switch {
	case s.takeFailed(userID):
		stored, err := s.stored(ctx, p)
		if err != nil {
			s.report(OpSave, userID, fmt.Errorf("optimizelyups: save user %q after a failed lookup: read stored assignments: %w", userID, err))
			return
		}
		for expID := range stored.Assignments {
			delete(p.Assignments, expID)
		}
	case !s.opts.RewriteUnchanged:
		// If the store cannot be read, write p whole: rewriting an entry
		// is better than losing a new one.
		if stored, err := s.stored(ctx, p); err == nil {
			for expID, a := range stored.Assignments {
				if b, ok := p.Assignments[expID]; ok && b.VariationID == a.VariationID {
					delete(p.Assignments, expID)
				}
			}
		}
	}
	if p.Empty() {
		return
	}
	if err := s.store.Save(ctx, p); err != nil {
		s.report(OpSave, userID, fmt.Errorf("optimizelyups: save user %q (%d assignments): %w", userID, len(p.Assignments), err))
	}
}

// stored reads the user's stored assignments of p's experiments: one
// scoped read when the store offers it.
func (s *ProfileService) stored(ctx context.Context, p ups.Profile) (ups.Profile, error) {
	return s.scoped.LookupExperiments(ctx, p.UserID, slices.Collect(maps.Keys(p.Assignments)))
}

// markFailed remembers that userID's lookup failed, unless the cap is
// reached even after dropping stale marks.
func (s *ProfileService) markFailed(userID string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.failed) >= maxFailedLookups {
		for u, at := range s.failed {
			if now.Sub(at) > failedLookupWindow {
				delete(s.failed, u)
			}
		}
		if len(s.failed) >= maxFailedLookups {
			return
		}
	}
	s.failed[userID] = now
}

// takeFailed reports whether userID's last lookup failed within the
// window, and forgets it.
func (s *ProfileService) takeFailed(userID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.failed[userID]
	if !ok {
		return false
	}
	delete(s.failed, userID)
	return time.Since(at) <= failedLookupWindow
}

func (s *ProfileService) report(op, userID string, err error) {
	if s.opts.OnError != nil {
		s.opts.OnError(op, userID, err)
	}
}
