package decision

import (
	"context"
	"fmt"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// call is the state of one public Decide* call: the user, the options, and
// the profile, looked up at most once and only when an experiment decision
// needs it, with the assignments to write at the end.
type call struct {
	ctx    context.Context
	client *Client
	// userID and attrs are copied out of the User rather than pointed to:
	// the store interface makes escape analysis treat everything the call
	// points to as escaping, and a pointer to the caller's User would move
	// it to the heap on every decision.
	userID      string
	attrs       map[string]any
	opts        options
	bucketingID string
	// bucketingOK is false when $opt_bucketing_id is there but not a
	// string (the user ID buckets then, and the reasons say so).
	bucketingOK bool
	// forced are the user's forced decisions (User.Forced).
	forced []ForcedDecision
	// overrides are the user's forced variations (Options.Overrides),
	// read once, by the first experiment decided (overridesRead).
	overrides     map[string]string
	overridesRead bool

	// store is nil when the call does not use profiles: no store
	// configured, IgnoreUserProfileService, or a user ID no profile can be
	// keyed by (then idProblem says why).
	store     ups.Service
	idProblem error
	// storeCtx bounds every store call of this decision by the client's
	// StoreBudget; cancel releases its timer.
	storeCtx context.Context
	cancel   context.CancelFunc

	// scope lists the experiment IDs the call can decide, so a store that
	// is a ups.ScopedLookuper reads only those; nil means all.
	scope []string

	looked    bool
	lookupErr error
	// use says whether the decision being made needed the profile and
	// read it (reset before each flag or experiment decision).
	use ProfileUse
	// saved is the profile read; when the call can decide one experiment
	// only and the store reads single assignments, one and oneOK hold it
	// instead and saved stays empty.
	saved  ups.Profile
	one    ups.Assignment
	oneOK  bool
	single bool

	// absent holds the assignments this call made when its lookup ran out
	// of time: they are written only where the store has none (SaveFirst),
	// in the background, so a new user stays sticky and a known one keeps
	// the assignment this call could not read.
	absent ups.Profile
	// fresh holds the assignments this call made for experiments the user
	// had none in. rewrite holds re-saves: refreshed assignments
	// (DecidedAt kept) and replacements of ones that were reset or whose
	// variation is gone. Both are writes of what changed, never a rewrite
	// of the profile; under FirstWriterWins they are conditional (fresh
	// ones written only where the store holds none, rewrites only where it
	// still holds what the call read).
	fresh, rewrite ups.Profile
	// lostRewrite is set when the store refused one of the call's
	// rewrites under FirstWriterWins: another server changed the
	// assignment after this call read it.
	lostRewrite bool

	// memo holds the results of the audiences the call evaluated.
	memo audienceMemo
	// explained holds, with reasons, what the official SDK's evaluator
	// makes of each audience the call explained.
	explained explainMemo
}

func (c *Client) newCall(ctx context.Context, u *User, o options) call {
	cl := call{ctx: ctx, client: c, userID: u.ID, attrs: u.Attributes, opts: o, forced: u.Forced}
	if c.df.audiences > inlineAudiences {
		cl.memo.df = c.df
	}
	cl.bucketingID, cl.bucketingOK = bucketingID(u)
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

// storeContext is the context of the call's store operations: the caller's,
// bounded by the client's StoreBudget from the first store call on.
func (cl *call) storeContext() context.Context {
	if cl.storeCtx == nil {
		cl.storeCtx = cl.ctx
		if b := cl.client.storeBudget(); b > 0 {
			cl.storeCtx, cl.cancel = context.WithTimeout(cl.ctx, b)
		}
	}
	return cl.storeCtx
}

// storeBudget is the budget of one decision's store calls: the adaptive
// one when the client has it, else the fixed StoreBudget.
func (c *Client) storeBudget() time.Duration {
	if c.adaptive != nil {
		return c.adaptive.Budget()
	}
	return c.budget
}

// profileReady reports whether the experiment decision may use (and write)
// the profile, looking it up on first use. A failed lookup makes the call
// decide as if there were no profile and save nothing: writing blind could
// replace an assignment we failed to read.
func (cl *call) profileReady(rs *reasons) bool {
	if cl.idProblem != nil {
		cl.use = ProfileUnread
		rs.problem(fmt.Sprintf("User profile not used: %v.", cl.idProblem))
		return false
	}
	if cl.store == nil {
		return false
	}
	if !cl.looked {
		cl.looked = true
		cl.lookup()
	}
	if cl.lookupErr != nil {
		cl.use = ProfileUnread
		rs.problem(fmt.Sprintf("User profile lookup failed (%v); deciding without saved assignments.", cl.lookupErr))
		return false
	}
	cl.use = ProfileRead
	return true
}

// lookup reads what the call can need, in the cheapest way the store
// offers: one assignment, some, or the whole profile.
func (cl *call) lookup() {
	ctx := cl.storeContext()
	if al := cl.client.assignments; al != nil && len(cl.scope) == 1 {
		cl.single = true
		cl.one, cl.oneOK, cl.lookupErr = al.LookupAssignment(ctx, cl.userID, cl.scope[0])
		return
	}
	var (
		p   ups.Profile
		err error
	)
	if sl := cl.client.scoped; sl != nil && cl.scope != nil {
		p, err = sl.LookupExperiments(ctx, cl.userID, cl.scope)
	} else {
		p, err = cl.store.Lookup(ctx, cl.userID)
	}
	if err != nil {
		cl.lookupErr = err
		return
	}
	cl.saved = p
}

// savedAssignment returns the assignment the user holds in expID: one this
// call made, else the one read from the store.
//
// own is true when the call itself made the assignment (an earlier flag
// of the call decided the experiment): it has no decision time yet, and a
// reset must not take it for one made before the reset.
func (cl *call) savedAssignment(expID string) (a ups.Assignment, ok, own bool) {
	if a, ok := cl.fresh.Assignments[expID]; ok {
		return a, true, true
	}
	if a, ok := cl.rewrite.Assignments[expID]; ok {
		return a, true, a.DecidedAt.IsZero()
	}
	if cl.single {
		if cl.oneOK && cl.scope[0] == expID {
			return cl.one, true, false
		}
		return ups.Assignment{}, false, false
	}
	a, ok = cl.saved.Assignments[expID]
	return a, ok && a.VariationID != "", false
}

// recordUnread notes a variation the call bucketed the user into without
// the profile: when the lookup ran out of time, it is written where the
// store holds nothing (see absent).
func (cl *call) recordUnread(expID, variationID string) {
	if cl.opts.peek || cl.store == nil || !ups.TimedOut(cl.lookupErr) {
		return
	}
	cl.absent.UserID = cl.userID
	cl.absent.Set(expID, variationID)
}

// record notes a variation the call bucketed the user into: fresh when the
// user had no assignment in the experiment, a rewrite when it replaces one.
func (cl *call) record(expID, variationID string, replaces bool) {
	if cl.opts.peek {
		return
	}
	if replaces {
		cl.rewrite.UserID = cl.userID
		cl.rewrite.Set(expID, variationID)
		return
	}
	cl.fresh.UserID = cl.userID
	cl.fresh.Set(expID, variationID)
}

// refresh re-saves a served assignment whose stickiness ends within the
// client's RefreshAfter, keeping its decision time, so an active user's
// assignment lives retention past the last use rather than the first.
func (cl *call) refresh(expID string, a ups.Assignment, rs *reasons) {
	after := cl.client.refreshAfter
	if after <= 0 || cl.opts.peek || a.ExpiresAt.IsZero() {
		return
	}
	if left := a.ExpiresAt.Sub(cl.client.now()); left >= after {
		return
	}
	if rs.on {
		rs.infof("Assignment to experiment ID %q expires at %s, within %s: refreshing it.", expID, a.ExpiresAt.UTC().Format(time.RFC3339), after)
	}
	cl.rewrite.UserID = cl.userID
	if cl.rewrite.Assignments == nil {
		cl.rewrite.Assignments = map[string]ups.Assignment{}
	}
	cl.rewrite.Assignments[expID] = ups.Assignment{VariationID: a.VariationID, DecidedAt: a.DecidedAt}
}

// finish writes the call's assignments, if any, and returns the call's
// store error (lookup or save) wrapped in ErrProfileStore. A failed write
// is reported in rs.
//
// Under FirstWriterWins every write is conditional: fresh assignments go
// through ups.FirstWriter when there is nothing else to write, and
// through ups.Replacer with the rewrites otherwise, each rewrite written
// only if the store still holds the assignment the call read. lost is
// true when another writer was first for at least one of them. The
// winners are then in the call's saved assignments and the call's own are
// dropped, so deciding again serves the winners.
func (cl *call) finish(rs *reasons) (lost bool, err error) {
	if cl.lookupErr != nil {
		cl.release()
		if !cl.absent.Empty() {
			cl.client.writeAbsent(cl.absent)
			cl.absent = ups.Profile{}
		}
		return false, fmt.Errorf("%w: lookup of user %q: %w", ErrProfileStore, cl.userID, cl.lookupErr)
	}
	if cl.fresh.Empty() && cl.rewrite.Empty() {
		cl.release()
		return false, nil
	}
	ctx := cl.storeContext()
	defer cl.release()
	if !cl.client.firstWriterWins {
		err := cl.store.Save(ctx, mergeProfiles(cl.rewrite, cl.fresh))
		cl.fresh, cl.rewrite = ups.Profile{}, ups.Profile{}
		if err != nil {
			rs.problem(fmt.Sprintf("User profile save failed (%v); this assignment may not be sticky.", err))
			return false, fmt.Errorf("%w: save of user %q: %w", ErrProfileStore, cl.userID, err)
		}
		return false, nil
	}
	fctx := ctx
	if b := cl.client.firstBudget; b > 0 {
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(cl.ctx, b)
		defer cancel()
	}
	var won ups.Profile
	if cl.rewrite.Empty() {
		won, err = cl.client.firstWriter.SaveFirst(fctx, cl.fresh)
	} else {
		won, err = cl.client.replacer.SaveReplacing(fctx, mergeProfiles(cl.rewrite, cl.fresh), cl.read(cl.rewrite))
	}
	rewrite := cl.rewrite
	cl.fresh, cl.rewrite = ups.Profile{}, ups.Profile{}
	if err != nil {
		rs.problem(fmt.Sprintf("User profile save failed (%v); this assignment may not be sticky.", err))
		return false, fmt.Errorf("%w: save of user %q: %w", ErrProfileStore, cl.userID, err)
	}
	if won.Empty() {
		return false, nil
	}
	for expID := range won.Assignments {
		if _, ok := rewrite.Assignments[expID]; ok {
			cl.lostRewrite = true
		}
	}
	cl.adopt(won)
	return true, nil
}

// read returns the assignments the call read from the store for the
// experiments of p: what a conditional rewrite expects the store still to
// hold.
func (cl *call) read(p ups.Profile) map[string]ups.Assignment {
	was := make(map[string]ups.Assignment, len(p.Assignments))
	for expID := range p.Assignments {
		if cl.single {
			if cl.oneOK && cl.scope[0] == expID {
				was[expID] = cl.one
			}
			continue
		}
		if a, ok := cl.saved.Assignments[expID]; ok && a.VariationID != "" {
			was[expID] = a
		}
	}
	return was
}

// adopt makes the winners of a first-writer race the call's saved
// assignments.
func (cl *call) adopt(won ups.Profile) {
	if cl.single {
		if a, ok := won.Assignments[cl.scope[0]]; ok {
			cl.one, cl.oneOK = a, true
		}
		return
	}
	cl.saved = mergeProfiles(cl.saved, won)
}

// release ends what the call holds: its store budget's timer and its
// pooled audience results.
func (cl *call) release() {
	cl.memo.release()
	if cl.cancel != nil {
		cl.cancel()
		cl.cancel = nil
	}
	cl.storeCtx = nil
}

// mergeProfiles returns a new profile holding a's assignments and then b's.
func mergeProfiles(a, b ups.Profile) ups.Profile {
	if b.Empty() {
		return a
	}
	if a.Empty() {
		return b
	}
	out := ups.Profile{UserID: a.UserID, Assignments: make(map[string]ups.Assignment, len(a.Assignments)+len(b.Assignments))}
	for id, x := range a.Assignments {
		out.Assignments[id] = x
	}
	for id, x := range b.Assignments {
		out.Assignments[id] = x
	}
	return out
}
