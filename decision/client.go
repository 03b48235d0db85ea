package decision

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// ErrProfileStore is wrapped by the error a Decide method returns when the
// profile store failed. The decision returned with it is valid: it was made
// as if the user had no saved assignments (lookup failure) or its new
// assignments were not saved (save failure). errors.Is on the returned
// error also finds the store's own error.
var ErrProfileStore = errors.New("decision: profile store failed")

// User is who a decision is for.
type User struct {
	// ID identifies the user for whitelisting and profiles, and for
	// bucketing unless $opt_bucketing_id is set. An empty ID is decided like
	// any other, as the SDKs do, but without a profile.
	ID string
	// Attributes are matched by audiences. Values are used as decoded from
	// JSON (string, bool, float64, json.Number) or as Go values (every
	// integer and float type). A string $opt_bucketing_id replaces the user
	// ID for bucketing.
	Attributes map[string]any
	// Forced are the user's forced decisions, as an SDK's user context
	// holds them (see ForcedDecision); the last of entries naming the same
	// flag and rule wins. They apply to flag decisions, not to
	// DecideExperiment.
	Forced []ForcedDecision
}

// Options configures a Client (named so it cannot be confused with
// package config, which holds the service's configuration file). Only Datafile is required; the zero value of
// every other field keeps the Optimizely SDKs' behaviour.
type Options struct {
	// Datafile is required.
	Datafile *Datafile
	// Profiles keeps assignments sticky. Nil: every decision re-buckets.
	Profiles ups.Service

	// StoreBudget bounds the time one decision spends in the profile store
	// (lookup and save together). Past it the decision is made as if the
	// user had no profile, and the error says so (context.DeadlineExceeded
	// under ErrProfileStore). Zero: only the caller's context bounds it.
	StoreBudget time.Duration
	// AdaptiveBudget, when set, replaces StoreBudget with a budget that
	// follows the store's observed latency.
	AdaptiveBudget *AdaptiveBudget
	// FirstWriteBudget bounds, instead of the store budget, the
	// conditional write of a decision's assignments under FirstWriterWins
	// (new ones, replacements and refreshes): a lightweight transaction
	// takes several round trips, and giving up on it serves this server's
	// bucketing where another server may have won. Zero: the store budget
	// bounds it too.
	FirstWriteBudget time.Duration
	// RefreshAfter makes stickiness slide: when a decision serves a saved
	// assignment that expires within RefreshAfter, it saves it again
	// (keeping its DecidedAt), so an active user keeps the variation for
	// the store's retention after the last decision rather than the first.
	// Each assignment is rewritten at most once per (retention −
	// RefreshAfter). Zero: never refreshed.
	RefreshAfter time.Duration
	// Resets re-randomise experiments without a scan of the store, keyed
	// by experiment ID: a saved assignment decided at or before the reset
	// time counts as absent.
	Resets map[string]Reset
	// FirstWriterWins makes every write of an assignment conditional
	// (Profiles must implement ups.FirstWriter and ups.Replacer, e.g.
	// Cassandra's lightweight transactions): a user's first assignment in
	// an experiment is written only if no other server wrote one first,
	// and a replacement (the saved variation left the experiment, or was
	// decided before a reset) or a refresh only if the store still holds
	// the assignment the decision read. The loser serves the stored
	// winner.
	FirstWriterWins bool
	// BackgroundWrites runs the writes of decisions whose lookup ran out
	// of time (shared by a process's clients, for one bound and one set of
	// counters); nil: the client makes its own, with the default bound.
	BackgroundWrites *BackgroundWrites
	// Overrides, when set, are forced variations (Agent's /v1/override)
	// a decision reads once per call and serves before whitelisting and
	// the profile, as the official Go SDK's ExperimentOverrideService
	// (overrides.go). Nil: none, and no cost.
	Overrides ups.Overrides
	// Now is the clock for RefreshAfter; nil means time.Now.
	Now func() time.Time
}

// Reset re-randomises one experiment.
type Reset struct {
	// Before: assignments decided at or before this time (or at an unknown
	// time) are ignored, and the user is bucketed again by the current
	// datafile and the new assignment replaces the old one. Bucketing is
	// deterministic: users land where the experiment's traffic allocation
	// puts them now, so a reset re-shuffles users after a change of
	// allocation, not among unchanged variations.
	Before time.Time
	// ExcludePrevious leaves users assigned before the reset out of the
	// experiment instead (no variation, nothing written), as GrowthBook's
	// minBucketVersion does; their old assignment is kept until it expires.
	ExcludePrevious bool
}

// Client makes decisions on one datafile. It is safe for concurrent use.
type Client struct {
	df       *Datafile
	profiles ups.Service
	// What profiles offers, resolved once (ups.As): nil where the store
	// cannot.
	assignments     ups.AssignmentLookuper
	scoped          ups.ScopedLookuper
	firstWriter     ups.FirstWriter
	replacer        ups.Replacer
	budget          time.Duration
	adaptive        *AdaptiveBudget
	firstBudget     time.Duration
	refreshAfter    time.Duration
	resets          map[string]Reset
	firstWriterWins bool
	now             func() time.Time
	// absentSlots bounds the background writes of decisions whose lookup
	// timed out (writeAbsent).
	background *BackgroundWrites
	overrides  ups.Overrides
}

// NewClient returns a client for cfg, or an error if cfg is incomplete or
// inconsistent.
func NewClient(cfg Options) (*Client, error) {
	if cfg.Datafile == nil {
		return nil, errors.New("decision: new client: no datafile")
	}
	if cfg.StoreBudget < 0 || cfg.RefreshAfter < 0 || cfg.FirstWriteBudget < 0 {
		return nil, fmt.Errorf("decision: new client: negative StoreBudget (%s), RefreshAfter (%s) or FirstWriteBudget (%s)", cfg.StoreBudget, cfg.RefreshAfter, cfg.FirstWriteBudget)
	}
	firstWriter, canFirst := ups.As[ups.FirstWriter](cfg.Profiles)
	replacer, canReplace := ups.As[ups.Replacer](cfg.Profiles)
	if cfg.FirstWriterWins && (!canFirst || !canReplace) {
		return nil, fmt.Errorf("decision: new client: FirstWriterWins needs a profile store that implements ups.FirstWriter and ups.Replacer; %T does not", cfg.Profiles)
	}
	for id, r := range cfg.Resets {
		if r.Before.IsZero() {
			return nil, fmt.Errorf("decision: new client: reset of experiment %q has no time", id)
		}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	c := &Client{
		df:              cfg.Datafile,
		profiles:        cfg.Profiles,
		firstWriter:     firstWriter,
		replacer:        replacer,
		budget:          cfg.StoreBudget,
		adaptive:        cfg.AdaptiveBudget,
		firstBudget:     cfg.FirstWriteBudget,
		refreshAfter:    cfg.RefreshAfter,
		resets:          cfg.Resets,
		firstWriterWins: cfg.FirstWriterWins,
		now:             now,
		background:      cfg.BackgroundWrites,
		overrides:       cfg.Overrides,
	}
	if c.background == nil {
		c.background = NewBackgroundWrites(0)
	}
	c.assignments, _ = ups.As[ups.AssignmentLookuper](cfg.Profiles)
	c.scoped, _ = ups.As[ups.ScopedLookuper](cfg.Profiles)
	return c, nil
}

// Datafile returns the client's datafile.
func (c *Client) Datafile() *Datafile { return c.df }

// ExperimentDecision is the outcome of DecideExperiment.
type ExperimentDecision struct {
	ExperimentKey string
	ExperimentID  string
	// LayerID is the experiment's layerId, the campaign an impression
	// names.
	LayerID      string
	VariationKey string // "" if none
	VariationID  string
	// Profile says whether the decision read the user's profile.
	Profile ProfileUse
	Reasons []string
}

// FlagDecision is the outcome of deciding one flag.
type FlagDecision struct {
	FlagKey      string
	Enabled      bool
	VariationKey string // "" if none
	// RuleKey is the key of the experiment or rollout rule that served the
	// variation; "" if none.
	RuleKey string
	// ExperimentID, LayerID and VariationID identify that rule (its ID
	// and layerId) and the variation, as an impression names them; "" if
	// none.
	ExperimentID, LayerID, VariationID string
	// Source says what served the variation: SourceFeatureTest (one of the
	// flag's experiments, sticky), SourceRollout, or "" for none.
	Source string
	// EveryoneElse is true when the rollout's "Everyone Else" rule served
	// the variation (Agent's isEveryoneElseVariation).
	EveryoneElse bool
	// Forced is true when a forced decision (User.Forced) gave the
	// variation: nothing was read from or saved to the profile for it.
	// A forced decision for the whole flag leaves RuleKey, ExperimentID
	// and LayerID empty, as the SDKs do.
	Forced bool
	// Variables holds every variable of the flag, typed (bool, int,
	// float64, string, or decoded JSON); empty with ExcludeVariables.
	Variables Variables
	// Profile says whether the decision read the user's profile.
	Profile ProfileUse
	Reasons []string
}

// ProfileUse says whether a decision read the user's saved assignments.
type ProfileUse uint8

const (
	// ProfileUnused: no experiment of the decision reached the profile
	// (only rollouts, no running experiment, IgnoreUserProfileService, or
	// no store).
	ProfileUnused ProfileUse = iota
	// ProfileRead: the profile was read; the decision is sticky.
	ProfileRead
	// ProfileUnread: the decision needed the profile and went without it
	// (the store failed or ran past the budget, the breaker was open, or
	// the user ID cannot key a profile): it may not be sticky.
	ProfileUnread
)

// String returns "unused", "read" or "unread".
func (u ProfileUse) String() string {
	switch u {
	case ProfileRead:
		return "read"
	case ProfileUnread:
		return "unread"
	}
	return "unused"
}

// Decision sources, named as the Optimizely SDKs name them.
const (
	SourceFeatureTest = "feature-test"
	SourceRollout     = "rollout"
)

// DecideExperiment decides u's variation in the experiment experimentKey,
// keeping it sticky through the profile store. An unknown key, or one that
// several experiments share, gives a zero decision and no error. The only
// error is a store failure (ErrProfileStore), returned alongside a valid
// decision.
func (c *Client) DecideExperiment(ctx context.Context, u User, experimentKey string, opts ...Option) (ExperimentDecision, error) {
	o := parseOptions(opts)
	rs := reasons{on: o.includeReasons}
	e := c.df.experimentByKey[experimentKey]
	if e == nil {
		if c.df.ambiguousKeys[experimentKey] {
			rs.problem(fmt.Sprintf("Experiment key %q is used by several experiments; decide their flags instead.", experimentKey))
		} else if rs.on {
			rs.infof("No experiment was found for key %q.", experimentKey)
		}
		return ExperimentDecision{Reasons: rs.report()}, nil
	}
	cl := c.newCall(ctx, &u, o)
	cl.scope = e.scope
	var d ExperimentDecision
	for attempt := 0; ; attempt++ {
		d = ExperimentDecision{ExperimentKey: e.key, ExperimentID: e.id, LayerID: e.layerID}
		cl.use = ProfileUnused
		if v := cl.decideExperiment(e, &rs); v != nil {
			d.VariationKey, d.VariationID = v.key, v.id
		}
		d.Profile = cl.use
		lost, err := cl.finish(&rs)
		if !lost || attempt > 0 {
			d.Reasons = rs.report()
			return d, err
		}
		rs = lostRace(o, cl.userID, cl.lostRewrite)
	}
}

// Decide decides the flag flagKey for u. An unknown key gives a disabled
// decision with a reason and no error. The only error is a store failure
// (ErrProfileStore), returned alongside a valid decision.
func (c *Client) Decide(ctx context.Context, u User, flagKey string, opts ...Option) (FlagDecision, error) {
	o := parseOptions(opts)
	f := c.df.flagByKey[flagKey]
	if f == nil {
		return unknownFlag(flagKey), nil
	}
	rs := reasons{on: o.includeReasons}
	cl := c.newCall(ctx, &u, o)
	cl.scope = f.experimentIDs
	for attempt := 0; ; attempt++ {
		d := cl.decideFlag(f, &rs)
		lost, err := cl.finish(&rs)
		if !lost || attempt > 0 {
			d.Reasons = rs.report()
			return d, err
		}
		rs = lostRace(o, cl.userID, cl.lostRewrite)
	}
}

// lostRace starts the reasons of a decision made again because another
// server wrote the user's assignment first (FirstWriterWins): a first
// assignment, or a change of the one the call read.
func lostRace(o options, userID string, changed bool) reasons {
	rs := reasons{on: o.includeReasons}
	switch {
	case !rs.on:
	case changed:
		rs.infof("Another server changed user %q's assignment after this decision read it; serving the stored one.", userID)
	default:
		rs.infof("Another server assigned user %q first; serving its assignment.", userID)
	}
	return rs
}

// DecideForKeys decides the flags keys for u with one profile lookup and at
// most one save. Unknown keys get a disabled decision with a reason. With
// EnabledFlagsOnly, disabled flags are left out.
func (c *Client) DecideForKeys(ctx context.Context, u User, keys []string, opts ...Option) (map[string]FlagDecision, error) {
	flags := make([]*flag, len(keys))
	scope := []string{} // not nil: flags without experiments read nothing
	for i, k := range keys {
		flags[i] = c.df.flagByKey[k]
		if flags[i] != nil {
			scope = append(scope, flags[i].experimentIDs...)
		}
	}
	return c.decideFlags(ctx, u, keys, flags, scope, parseOptions(opts))
}

// DecideAll decides every flag of the datafile for u, like DecideForKeys.
func (c *Client) DecideAll(ctx context.Context, u User, opts ...Option) (map[string]FlagDecision, error) {
	keys := make([]string, len(c.df.flags))
	for i, f := range c.df.flags {
		keys[i] = f.key
	}
	// DecideAll can touch any experiment: read the whole profile.
	return c.decideFlags(ctx, u, keys, c.df.flags, nil, parseOptions(opts))
}

// decideFlags decides flags[i] (nil for an unknown key) under keys[i],
// reading the profile entries in scope (nil: all of them).
func (c *Client) decideFlags(ctx context.Context, u User, keys []string, flags []*flag, scope []string, o options) (map[string]FlagDecision, error) {
	setup := reasons{on: o.includeReasons} // about the call itself (a lost first-writer race), given to every decision
	cl := c.newCall(ctx, &u, o)
	cl.scope = scope
	var (
		out map[string]FlagDecision
		err error
	)
	for attempt := 0; ; attempt++ {
		out = make(map[string]FlagDecision, len(keys))
		// saving lists the flags whose decisions made assignments, so a
		// failed save is reported on exactly those.
		var saving []string
		for i, key := range keys {
			if _, done := out[key]; done {
				continue
			}
			f := flags[i]
			if f == nil {
				out[key] = unknownFlag(key)
				continue
			}
			rs := reasons{on: o.includeReasons}
			if len(setup.list) > 0 {
				rs.list = append(rs.list, setup.list...)
			}
			before := len(cl.fresh.Assignments) + len(cl.rewrite.Assignments)
			d := cl.decideFlag(f, &rs)
			if len(cl.fresh.Assignments)+len(cl.rewrite.Assignments) != before {
				saving = append(saving, key)
			}
			d.Reasons = rs.report()
			out[key] = d
		}
		var failed reasons
		var lost bool
		lost, err = cl.finish(&failed)
		if len(failed.list) > 0 {
			for _, key := range saving {
				d := out[key]
				d.Reasons = append(d.Reasons, failed.list...)
				out[key] = d
			}
		}
		if !lost || attempt > 0 {
			break
		}
		setup = lostRace(o, cl.userID, cl.lostRewrite)
	}
	if o.enabledOnly {
		for key, d := range out {
			if !d.Enabled {
				delete(out, key)
			}
		}
	}
	return out, err
}
