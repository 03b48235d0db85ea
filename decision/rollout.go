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

// decideRollout returns the variation a rollout serves and the rule that
// served it, or nil and nil.
//
// Rules 0..n-2: a user outside a rule's audience moves on to the next rule;
// a user inside it but outside its traffic skips straight to the last rule,
// so a partial rollout to a segment never hands that segment to a later
// targeted rule. The last rule is evaluated like the others (audience if
// any, then traffic). Rollouts never read or write profiles: re-hashing is
// what keeps them stable, and their traffic only grows.
func (cl *call) decideRollout(r *rollout, rs *reasons) (*variation, *experiment) {
	n := len(r.rules)
	if n == 0 {
		return nil, nil
	}
	for _, rule := range r.rules[:n-1] {
		if !cl.inAudience(rule, "rule", rs) {
			continue
		}
		v := allocate(rule.traffic, bucketValue(cl.bucketingID, rule.id))
		if v == nil {
			if rs.on {
				rs.infof("User %q meets the audience of rule %q but is outside its traffic; evaluating the last rule.", cl.userID, rule.key)
			}
			break
		}
		if rs.on {
			rs.infof("User %q is in variation %q of rule %q.", cl.userID, v.key, rule.key)
		}
		return v, rule
	}
	last := r.rules[n-1]
	if !cl.inAudience(last, "rule", rs) {
		return nil, nil
	}
	v := allocate(last.traffic, bucketValue(cl.bucketingID, last.id))
	if v == nil {
		if rs.on {
			rs.infof("User %q is outside the traffic of rule %q.", cl.userID, last.key)
		}
		return nil, nil
	}
	if rs.on {
		rs.infof("User %q is in variation %q of rule %q.", cl.userID, v.key, last.key)
	}
	return v, last
}
