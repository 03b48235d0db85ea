package decision

import (
	"bytes"
	"fmt"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// variation is one arm of an experiment or rollout rule.
type variation struct {
	id, key        string
	featureEnabled bool
	// values holds the variation's variable values as the datafile lists
	// them (a JSON list of rawVarUsage; the last of duplicate IDs wins);
	// the typed values a flag serves are computed from them at load time.
	values jsontext.Value
}

// experiment is an A/B test or, in a rollout, a targeting rule.
type experiment struct {
	id, key, status string
	// layerID is the campaign an impression names (layerId).
	layerID string
	// scope is []string{id}, built once so a scoped profile lookup does
	// not allocate it per decision (nil for rollout rules, which never
	// read profiles).
	scope []string
	// running: only experiments with status "Running" decide (see
	// decideExperiment). Rollout rules ignore it, as every SDK does.
	running    bool
	variations []*variation
	// byID and byKey index variations when there are more than
	// smallVariations; fewer are searched in order.
	byID     map[string]*variation
	byKey    map[string]*variation
	traffic  []trafficRange[variation]
	audience *node // nil: everyone
	group    *group
	// forced maps user IDs to variation keys (whitelisting). Entries naming
	// an unknown variation are kept and ignored per user, as the SDKs do.
	forced map[string]string
	// flagUses counts the flag references to this experiment, bounded by
	// Limits.MaxFlagsPerExperiment.
	flagUses int
	// loc is where the experiment is in the datafile, to report a
	// duplicate of its ID.
	loc location
}

// location is experiments[index] at the top level (group -1) or in
// groups[group].
type location struct{ group, index int32 }

// smallVariations is how many variations are searched in order rather
// than through maps: nearly every experiment has two or three.
const smallVariations = 8

// variationByID returns e's variation with ID id, or nil.
func (e *experiment) variationByID(id string) *variation {
	if e.byID != nil {
		return e.byID[id]
	}
	for _, v := range e.variations {
		if v.id == id {
			return v
		}
	}
	return nil
}

// variationByKey returns e's variation with key key, or nil.
func (e *experiment) variationByKey(key string) *variation {
	if e.byKey != nil {
		return e.byKey[key]
	}
	for _, v := range e.variations {
		if v.key == key {
			return v
		}
	}
	return nil
}

// group is a mutual-exclusion group with the random policy: a user takes
// part in at most the one member its group allocation picks.
type group struct {
	id      string
	random  bool
	traffic []trafficRange[experiment]
}

// statusRunning is the only status that lets an experiment decide.
const statusRunning = "Running"

// buildExperiment builds an experiment or rollout rule at at into e. The
// caller checks its ID.
func (b *builder) buildExperiment(e *experiment, r *rawExperiment, at *path) {
	lim, p := b.lim, b.p
	*e = experiment{
		id:      r.ID,
		key:     r.Key,
		layerID: r.LayerID,
		status:  r.Status,
		running: r.Status == statusRunning,
		forced:  r.ForcedVariations,
	}
	checkLength("key", r.Key, lim.MaxKeyBytes, at, p)
	checkLength("layer ID", r.LayerID, lim.MaxIDBytes, at, p)
	checkLength("status", r.Status, lim.MaxKeyBytes, at, p)
	for user, key := range r.ForcedVariations {
		if (len(user) > lim.MaxKeyBytes || len(key) > lim.MaxKeyBytes) && !p.full() {
			f := field(at, "forcedVariations")
			p.add(&f, "user %s, variation %s: %d and %d bytes, the limit is %d", quoted(user), quoted(key), len(user), len(key), lim.MaxKeyBytes)
		}
	}
	ids, keys := newUnique("variation ID", lim.variationIDBytes()), newUnique("variation key", lim.MaxKeyBytes)
	rv := &b.variation
	var vs []variation // allocated once, for the variations kept
	if !each(b, r.Variations, at, "variations", rv, func(i int) {
		vat := namedElem(at, "variations", i, rv.Key)
		values := b.checkVariables(rv, &vat)
		okID, okKey := ids.check(rv.ID, rv.Key, &vat, p), keys.check(rv.Key, rv.Key, &vat, p)
		if okID && okKey {
			if vs == nil {
				n := countElements(r.Variations) - i
				vs = make([]variation, 0, n)
				e.variations = make([]*variation, 0, n)
			}
			vs = append(vs, variation{id: rv.ID, key: rv.Key, featureEnabled: rv.FeatureEnabled, values: values})
			e.variations = append(e.variations, &vs[len(vs)-1])
		}
	}) {
		return
	}
	if len(e.variations) > smallVariations {
		e.byID = make(map[string]*variation, len(e.variations))
		e.byKey = make(map[string]*variation, len(e.variations))
		for _, v := range e.variations {
			e.byID[v.id] = v
			e.byKey[v.key] = v
		}
	}
	e.traffic = checkRanges(b, r.TrafficAllocation, at, "variation", func(id string) (*variation, bool) {
		v := e.variationByID(id)
		return v, v != nil
	})
	e.audience = b.experimentAudience(r, at)
}

// checkVariables checks a variation's variable values and returns a copy
// of them to type for the flags that use the variation (nil if none).
func (b *builder) checkVariables(rv *rawVariation, at *path) jsontext.Value {
	n := 0
	each(b, rv.Variables, at, "variables", &b.usage, func(int) { n++ })
	if n == 0 || b.p.stopped {
		return nil
	}
	return bytes.Clone(rv.Variables)
}

// experimentAudience builds the tree that decides who may enter:
// audienceConditions when the field is present (even as [], which lets
// everyone in), else audienceIds OR-ed together.
func (b *builder) experimentAudience(r *rawExperiment, at *path) *node {
	// audienceIds is checked even when audienceConditions overrides it: the
	// web app writes the audiences of audienceConditions there too, so an
	// unknown ID is an inconsistent datafile either way.
	byIDs := b.audienceIDsTree(r.AudienceIDs, at, "audienceIds")
	if len(r.AudienceConditions) == 0 || r.AudienceConditions.Kind() == 'n' {
		return byIDs
	}
	return b.walker.audienceConditions(r.AudienceConditions, at, "audienceConditions", b.auds, b.lim.MaxConditionDepth, b.p)
}

// decideExperiment runs the sticky decision for one experiment, in the
// order of the Python SDK:
//
//  1. status: only Running experiments decide, checked first so a paused
//     experiment serves nobody, not even users saved into it. The official
//     Go SDK v2 does not check status at all; we follow Python.
//  2. an override (Options.Overrides, Agent's /v1/override), as the
//     official Go SDK's ExperimentOverrideService: never saved, and a
//     saved assignment stays for when the override goes; then
//     whitelisting (forcedVariations by user ID); never saved.
//  3. the saved variation, served before audiences if it still exists in
//     the experiment; a saved ID that no longer exists is re-bucketed and
//     overwritten below.
//  4. audiences, 5. the mutual-exclusion group, 6. bucketing.
//  7. a bucketed variation is recorded for the call's save.
//
// The client's Resets make a saved assignment decided at or before the
// reset time count as absent (bucketed again and replaced), or exclude the
// user from the experiment; RefreshAfter re-saves a served assignment
// that is about to expire.
//
// Reasons are the official Go SDK's, word for word and in its order
// (sdkreasons.go), but for what the SDK does not do: a status other than
// Running, resets, refreshes and store failures.
//
// It returns nil when the user gets no variation.
func (cl *call) decideExperiment(e *experiment, rs *reasons) *variation {
	if !e.running {
		if rs.on {
			rs.infof("Experiment %q is not running (status %q).", e.key, e.status)
		}
		return nil
	}
	if cl.client.overrides != nil {
		if v := cl.overridden(e, rs); v != nil {
			return v
		}
	}
	if key, ok := e.forced[cl.userID]; ok {
		if v := e.variationByKey(key); v != nil {
			if rs.on {
				rs.infof(`User "%s" is whitelisted into variation "%s" of experiment "%s".`, cl.userID, v.key, e.key)
			}
			return v
		}
		if rs.on {
			rs.infof(`User "%s" is whitelisted into variation "%s", which is not in the datafile.`, cl.userID, key)
		}
	}
	sticky := cl.profileReady(rs)
	replaces := false
	if sticky {
		if a, ok, own := cl.savedAssignment(e.id); ok {
			replaces = true
			if r, reset := cl.client.resets[e.id]; reset && !own && !a.DecidedAt.After(r.Before) {
				if r.ExcludePrevious {
					if rs.on {
						rs.infof("User %q was assigned to experiment %q before its reset at %s and is excluded from it.", cl.userID, e.key, r.Before.UTC().Format(time.RFC3339))
					}
					return nil
				}
				if rs.on {
					rs.infof("User %q was assigned to experiment %q before its reset at %s; bucketing again.", cl.userID, e.key, r.Before.UTC().Format(time.RFC3339))
				}
			} else if v := e.variationByID(a.VariationID); v != nil {
				if rs.on {
					rs.infof(`User "%s" was previously bucketed into variation "%s" of experiment "%s".`, cl.userID, v.key, e.key)
				}
				cl.refresh(e.id, a, rs)
				return v
			} else if rs.on {
				rs.infof(`User "%s" was previously bucketed into variation with ID "%s" for experiment "%s", but no matching variation was found.`, cl.userID, a.VariationID, e.key)
			}
		}
	}
	if !cl.bucketerAudience(e, rs) {
		if rs.on {
			rs.infof(`User "%s" does not meet conditions to be in experiment "%s".`, cl.userID, e.key)
		}
		return nil
	}
	v := cl.bucketExperiment(e)
	switch {
	case v == nil:
	case sticky:
		cl.record(e.id, v.id, replaces)
	default:
		cl.recordUnread(e.id, v.id)
	}
	return v
}

// inAudience evaluates e's audience tree, each audience once per call
// (audienceMemo); null counts as false. With reasons, it gives those the
// official Go SDK's audience evaluator gives (explainAudience).
func (cl *call) inAudience(e *experiment, rs *reasons) bool {
	if e.audience == nil {
		return true
	}
	r := e.audience.evalIn(cl.attrs, &cl.memo)
	if rs.on {
		e.audience.explain(cl.attrs, rs, &cl.explained)
	}
	return r == triTrue
}

// bucketerAudience is the audience step of the SDK's bucketer, with its
// reasons: the evaluation, the collective result, and, when bucketing
// follows, a $opt_bucketing_id that is not a string. Experiments and
// rollout rules both go through it.
func (cl *call) bucketerAudience(e *experiment, rs *reasons) bool {
	in := cl.inAudience(e, rs)
	if rs.on {
		cl.bucketerReasons(e, in, rs)
	}
	return in
}

// bucketerReasons are the lines of the SDK's bucketer after its audience
// evaluation, whose result was in.
func (cl *call) bucketerReasons(e *experiment, in bool, rs *reasons) {
	rs.infof("Audiences for experiment %s collectively evaluated to %t.", e.key, in)
	if in && !cl.bucketingOK {
		rs.infof("Error computing bucketing ID for experiment %q: %q", e.key, fmt.Sprintf(`invalid bucketing ID provided: "%v"`, cl.attrs[bucketingIDAttribute]))
	}
}

// bucketExperiment applies the group and then the experiment's traffic.
// The SDK gives no reasons for either.
func (cl *call) bucketExperiment(e *experiment) *variation {
	if g := e.group; g != nil {
		if picked := allocate(g.traffic, bucketValue(cl.bucketingID, g.id)); picked != e {
			return nil
		}
	}
	return allocate(e.traffic, bucketValue(cl.bucketingID, e.id))
}
