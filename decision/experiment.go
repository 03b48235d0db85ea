package decision

import (
	"bytes"
	"encoding/json"
	"time"
)

// variation is one arm of an experiment or rollout rule.
type variation struct {
	id, key        string
	featureEnabled bool
	// values holds the variation's raw variable values by variable ID; the
	// typed values a flag serves are computed from them at load time.
	values map[string]string
}

// experiment is an A/B test or, in a rollout, a targeting rule.
type experiment struct {
	id, key, status string
	// scope is []string{id}, built once so a scoped profile lookup does
	// not allocate it per decision.
	scope []string
	// running: only experiments with status "Running" decide (see
	// decideExperiment). Rollout rules ignore it, as every SDK does.
	running    bool
	variations []*variation
	byID       map[string]*variation
	byKey      map[string]*variation
	traffic    []trafficRange[variation]
	audience   *node // nil: everyone
	group      *group
	// forced maps user IDs to variation keys (whitelisting). Entries naming
	// an unknown variation are kept and ignored per user, as the SDKs do.
	forced map[string]string
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

func buildExperiment(r *rawExperiment, path string, auds map[string]*audience, p *problems) *experiment {
	e := &experiment{
		id:      r.ID,
		scope:   []string{r.ID},
		key:     r.Key,
		status:  r.Status,
		running: r.Status == statusRunning,
		byID:    map[string]*variation{},
		byKey:   map[string]*variation{},
		forced:  r.ForcedVariations,
	}
	ids, keys := newUnique("variation ID"), newUnique("variation key")
	for i, rv := range r.Variations {
		at := path + ": " + named("variations", i, rv.Key)
		v := &variation{id: rv.ID, key: rv.Key, featureEnabled: rv.FeatureEnabled}
		if len(rv.Variables) > 0 {
			v.values = make(map[string]string, len(rv.Variables))
			for _, u := range rv.Variables {
				v.values[u.ID] = u.Value
			}
		}
		okID, okKey := ids.check(rv.ID, at, p), keys.check(rv.Key, at, p)
		if okID && okKey {
			e.variations = append(e.variations, v)
			e.byID[v.id] = v
			e.byKey[v.key] = v
		}
	}
	e.traffic = checkRanges(r.TrafficAllocation, path, "variation", func(id string) (*variation, bool) {
		v, ok := e.byID[id]
		return v, ok
	}, p)
	e.audience = experimentAudience(r, path, auds, p)
	return e
}

// experimentAudience builds the tree that decides who may enter:
// audienceConditions when the field is present (even as [], which lets
// everyone in), else audienceIds OR-ed together.
func experimentAudience(r *rawExperiment, path string, auds map[string]*audience, p *problems) *node {
	// audienceIds is checked even when audienceConditions overrides it: the
	// web app writes the audiences of audienceConditions there too, so an
	// unknown ID is an inconsistent datafile either way.
	byIDs := audienceIDsTree(r.AudienceIDs, path+": audienceIds", auds, p)
	raw := bytes.TrimSpace(r.AudienceConditions)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return byIDs
	}
	var conds any
	if err := json.Unmarshal(raw, &conds); err != nil {
		p.addf("%s: audienceConditions: %v", path, err)
		return nil
	}
	return parseAudienceConditions(conds, path+": audienceConditions", auds, p)
}

// decideExperiment runs the sticky decision for one experiment, in the
// order of the Python SDK:
//
//  1. status: only Running experiments decide, checked first so a paused
//     experiment serves nobody, not even users saved into it. The official
//     Go SDK v2 does not check status at all; we follow Python.
//  2. whitelisting (forcedVariations by user ID); never saved.
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
// It returns nil when the user gets no variation.
func (cl *call) decideExperiment(e *experiment, rs *reasons) *variation {
	if !e.running {
		if rs.on {
			rs.infof("Experiment %q is not running (status %q).", e.key, e.status)
		}
		return nil
	}
	if key, ok := e.forced[cl.userID]; ok {
		if v := e.byKey[key]; v != nil {
			if rs.on {
				rs.infof("User %q is whitelisted into variation %q of experiment %q.", cl.userID, v.key, e.key)
			}
			return v
		}
		if rs.on {
			rs.infof("User %q is whitelisted into variation %q, which is not in experiment %q.", cl.userID, key, e.key)
		}
	}
	sticky := cl.profileReady(rs)
	replaces := false
	if sticky {
		if a, ok := cl.savedAssignment(e.id); ok {
			replaces = true
			if r, reset := cl.client.resets[e.id]; reset && !a.DecidedAt.After(r.Before) {
				if r.ExcludePrevious {
					if rs.on {
						rs.infof("User %q was assigned to experiment %q before its reset at %s and is excluded from it.", cl.userID, e.key, r.Before.UTC().Format(time.RFC3339))
					}
					return nil
				}
				if rs.on {
					rs.infof("User %q was assigned to experiment %q before its reset at %s; bucketing again.", cl.userID, e.key, r.Before.UTC().Format(time.RFC3339))
				}
			} else if v := e.byID[a.VariationID]; v != nil {
				if rs.on {
					rs.infof("User %q was previously bucketed into variation %q of experiment %q.", cl.userID, v.key, e.key)
				}
				cl.refresh(e.id, a, rs)
				return v
			} else if rs.on {
				rs.infof("User %q was previously bucketed into variation ID %q of experiment %q, which no longer exists; bucketing again.", cl.userID, a.VariationID, e.key)
			}
		}
	}
	if !cl.inAudience(e, "experiment", rs) {
		return nil
	}
	v := cl.bucketExperiment(e, rs)
	if v != nil && sticky {
		cl.record(e.id, v.id, replaces)
	}
	return v
}

// inAudience evaluates e's audience tree; null counts as false.
func (cl *call) inAudience(e *experiment, what string, rs *reasons) bool {
	if e.audience == nil {
		return true
	}
	r := e.audience.eval(cl.attrs)
	if rs.on {
		e.audience.eachAudience(func(a *audience) {
			rs.infof("Audience %q (%s) evaluated to %s.", a.name, a.id, a.tree.eval(cl.attrs))
		})
		rs.infof("Audiences for %s %q collectively evaluated to %s.", what, e.key, r)
	}
	return r == triTrue
}

// bucketExperiment applies the group and then the experiment's traffic.
func (cl *call) bucketExperiment(e *experiment, rs *reasons) *variation {
	if g := e.group; g != nil {
		if picked := allocate(g.traffic, bucketValue(cl.bucketingID, g.id)); picked != e {
			if rs.on {
				rs.infof("User %q is not in experiment %q: group %q allocates the user elsewhere.", cl.userID, e.key, g.id)
			}
			return nil
		}
	}
	v := allocate(e.traffic, bucketValue(cl.bucketingID, e.id))
	if rs.on {
		if v == nil {
			rs.infof("User %q is in no variation of experiment %q.", cl.userID, e.key)
		} else {
			rs.infof("User %q is in variation %q of experiment %q.", cl.userID, v.key, e.key)
		}
	}
	return v
}
