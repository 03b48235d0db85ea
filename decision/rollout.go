package decision

import "strings"

// rollout is a flag's targeted delivery: rules evaluated in order, the last
// being "Everyone Else".
type rollout struct {
	id    string
	rules []*experiment
	// flagUses counts the flags using this rollout, bounded by
	// Limits.MaxFlagsPerExperiment.
	flagUses int
}

// everyoneElse reports whether ruleKey is the rollout's last rule as the
// Optimizely app creates it ("Everyone Else": its key is its ID and starts
// with "default-"), as Agent computes isEveryoneElseVariation.
func (r *rollout) everyoneElse(ruleKey string) bool {
	if len(r.rules) == 0 {
		return false
	}
	last := r.rules[len(r.rules)-1]
	return last.key == ruleKey && last.key == last.id && strings.HasPrefix(last.key, "default-")
}

// decideRollout returns the variation a rollout of flag f serves and the
// rule that served it, or nil and nil; forced is true when a forced
// decision for the rule gave the variation.
//
// Rules 0..n-2: a user outside a rule's audience moves on to the next rule;
// a user inside it but outside its traffic skips straight to the last rule,
// so a partial rollout to a segment never hands that segment to a later
// targeted rule. The last rule is evaluated like the others (audience if
// any, then traffic). Rollouts never read or write profiles: re-hashing is
// what keeps them stable, and their traffic only grows.
//
// A rule's forced decision is checked before the rule's audiences. With
// reasons, the official Go SDK's are given in its order: it evaluates a
// targeted rule's audiences once to target and once more in its bucketer,
// and names targeted rules by their position (1, 2, …) when the user
// misses one.
func (cl *call) decideRollout(f *flag, rs *reasons) (v *variation, rule *experiment, forced bool) {
	r := f.rollout
	n := len(r.rules)
	if n == 0 {
		return nil, nil, false
	}
	for i, rule := range r.rules[:n-1] {
		if v, ok := cl.forcedFor(f, rule.key, rs); ok {
			return v, rule, true
		}
		if !cl.inAudience(rule, rs) {
			if rs.on {
				rs.infof(`User "%s" does not meet conditions for targeting rule %d.`, cl.userID, i+1)
			}
			continue
		}
		if rs.on {
			cl.rebucketReasons(rule, rs)
		}
		v := allocate(rule.traffic, bucketValue(cl.bucketingID, rule.id))
		if v == nil {
			break
		}
		return v, rule, false
	}
	last := r.rules[n-1]
	if v, ok := cl.forcedFor(f, last.key, rs); ok {
		return v, last, true
	}
	if !cl.inAudience(last, rs) {
		return nil, nil, false
	}
	if rs.on {
		cl.rebucketReasons(last, rs)
		rs.infof(`User "%s" meets conditions for targeting rule "Everyone Else".`, cl.userID)
	}
	v = allocate(last.traffic, bucketValue(cl.bucketingID, last.id))
	if v == nil {
		return nil, nil, false
	}
	return v, last, false
}

// rebucketReasons are the reasons of the SDK's bucketer for a rule whose
// audiences the rollout has just found the user in: it evaluates them
// again (and explains them again), then says so. Only reasons need it.
func (cl *call) rebucketReasons(rule *experiment, rs *reasons) {
	if rule.audience != nil {
		rule.audience.explain(cl.attrs, rs, &cl.explained)
	}
	cl.bucketerReasons(rule, true, rs)
}
