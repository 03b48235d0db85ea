package decision

import (
	"context"
	"fmt"

	"github.com/stickybucket/stickybucket/ups"
)

// call is the state of one public Decide* call: the user, the options, and
// the profile, looked up at most once and only when an experiment decision
// needs it, with the assignments to save at the end in one Save.
type call struct {
	ctx context.Context
	// userID and attrs are copied out of the User rather than pointed to:
	// the store interface makes escape analysis treat everything the call
	// points to as escaping, and a pointer to the caller's User would move
	// it to the heap on every decision.
	userID      string
	attrs       map[string]any
	opts        options
	bucketingID string

	// store is nil when the call does not use profiles: no store
	// configured, IgnoreUserProfileService, or a user ID no profile can be
	// keyed by (then idProblem says why).
	store     ups.Service
	idProblem error

	// scope lists the experiment IDs the call can decide, so a store that
	// implements ups.ScopedLookuper reads only those; nil means all.
	scope []string

	looked    bool
	saved     ups.Profile
	lookupErr error
	// pending holds only the assignments this call made, so the save is
	// an upsert of what changed, never a rewrite of the whole profile.
	pending ups.Profile
}

func (c *Client) newCall(ctx context.Context, u *User, o options, rs *reasons) call {
	cl := call{ctx: ctx, userID: u.ID, attrs: u.Attributes, opts: o}
	id, ok := bucketingID(u)
	if !ok && rs.on {
		rs.infof("Attribute %q is not a string; bucketing by user ID.", bucketingIDAttribute)
	}
	cl.bucketingID = id
	if c.profiles != nil && !o.ignoreProfiles {
		// An ID the stores cannot key (empty, oversized, not UTF-8) would
		// either fail every lookup, counted as a store failure although the
		// store is fine, or, for a store that accepted "", make every
		// anonymous user share one profile. Decide without stickiness.
		if err := ups.ValidateUserID(u.ID); err != nil {
			cl.idProblem = err
		} else {
			cl.store = c.profiles
		}
	}
	return cl
}

// profileReady reports whether the experiment decision may use (and write)
// the profile, looking it up on first use. A failed lookup makes the call
// decide as if there were no profile and save nothing: writing blind could
// replace an assignment we failed to read.
func (cl *call) profileReady(rs *reasons) bool {
	if cl.idProblem != nil {
		rs.problem(fmt.Sprintf("User profile not used: %v.", cl.idProblem))
		return false
	}
	if cl.store == nil {
		return false
	}
	if !cl.looked {
		cl.looked = true
		var (
			p   ups.Profile
			err error
		)
		if sl, ok := cl.store.(ups.ScopedLookuper); ok && cl.scope != nil {
			p, err = sl.LookupExperiments(cl.ctx, cl.userID, cl.scope)
		} else {
			p, err = cl.store.Lookup(cl.ctx, cl.userID)
		}
		if err != nil {
			cl.lookupErr = err
		} else {
			cl.saved = p
		}
	}
	if cl.lookupErr != nil {
		rs.problem(fmt.Sprintf("User profile lookup failed (%v); deciding without saved assignments.", cl.lookupErr))
		return false
	}
	return true
}

// savedVariation returns the variation ID the profile holds for expID,
// including assignments made earlier in this call.
func (cl *call) savedVariation(expID string) (string, bool) {
	if id, ok := cl.pending.Variation(expID); ok {
		return id, true
	}
	return cl.saved.Variation(expID)
}

func (cl *call) record(expID, variationID string) {
	cl.pending.UserID = cl.userID
	cl.pending.Set(expID, variationID)
}

// finish saves the call's new assignments, if any, and returns the call's
// store error (lookup or save) wrapped in ErrProfileStore. A failed save is
// reported in rs.
func (cl *call) finish(rs *reasons) error {
	if cl.lookupErr != nil {
		return fmt.Errorf("%w: lookup of user %q: %w", ErrProfileStore, cl.userID, cl.lookupErr)
	}
	if cl.pending.Empty() {
		return nil
	}
	if err := cl.store.Save(cl.ctx, cl.pending); err != nil {
		rs.problem(fmt.Sprintf("User profile save failed (%v); this assignment may not be sticky.", err))
		return fmt.Errorf("%w: save of user %q: %w", ErrProfileStore, cl.userID, err)
	}
	return nil
}
