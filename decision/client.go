package decision

import (
	"context"
	"errors"
	"fmt"

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
}

// Config configures a Client.
type Config struct {
	// Datafile is required.
	Datafile *Datafile
	// Profiles keeps assignments sticky. Nil: every decision re-buckets.
	Profiles ups.Service
}

// Client makes decisions on one datafile. It is safe for concurrent use.
type Client struct {
	df       *Datafile
	profiles ups.Service
}

// NewClient returns a client for cfg, or an error if it has no datafile.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Datafile == nil {
		return nil, errors.New("decision: new client: no datafile")
	}
	return &Client{df: cfg.Datafile, profiles: cfg.Profiles}, nil
}

// Datafile returns the client's datafile.
func (c *Client) Datafile() *Datafile { return c.df }

// ExperimentDecision is the outcome of DecideExperiment.
type ExperimentDecision struct {
	ExperimentKey string
	ExperimentID  string
	VariationKey  string // "" if none
	VariationID   string
	Reasons       []string
}

// FlagDecision is the outcome of deciding one flag.
type FlagDecision struct {
	FlagKey      string
	Enabled      bool
	VariationKey string // "" if none
	// RuleKey is the key of the experiment or rollout rule that served the
	// variation; "" if none.
	RuleKey string
	// Variables holds every variable of the flag, typed (bool, int,
	// float64, string, or decoded JSON); nil with ExcludeVariables.
	Variables map[string]any
	Reasons   []string
}

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
		return ExperimentDecision{Reasons: rs.list}, nil
	}
	cl := c.newCall(ctx, &u, o, &rs)
	cl.scope = e.scope
	d := ExperimentDecision{ExperimentKey: e.key, ExperimentID: e.id}
	if v := cl.decideExperiment(e, &rs); v != nil {
		d.VariationKey, d.VariationID = v.key, v.id
	}
	err := cl.finish(&rs)
	d.Reasons = rs.list
	return d, err
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
	cl := c.newCall(ctx, &u, o, &rs)
	cl.scope = f.experimentIDs
	d := cl.decideFlag(f, &rs)
	err := cl.finish(&rs)
	d.Reasons = rs.list
	return d, err
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
	out := make(map[string]FlagDecision, len(keys))
	setup := reasons{on: o.includeReasons} // about the call itself, given to every decision
	cl := c.newCall(ctx, &u, o, &setup)
	cl.scope = scope
	// saving lists the flags whose decisions made assignments, so a failed
	// save is reported on exactly those.
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
		before := len(cl.pending.Assignments)
		d := cl.decideFlag(f, &rs)
		if len(cl.pending.Assignments) != before {
			saving = append(saving, key)
		}
		d.Reasons = rs.list
		out[key] = d
	}
	var failed reasons
	err := cl.finish(&failed)
	if len(failed.list) > 0 {
		for _, key := range saving {
			d := out[key]
			d.Reasons = append(d.Reasons, failed.list...)
			out[key] = d
		}
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
