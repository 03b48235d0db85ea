package decision

// ForcedDecision forces the variation a user gets for a flag, as the
// Optimizely SDKs' OptimizelyUserContext.SetForcedDecision does (and Agent's
// forcedDecisions in a decide body): with RuleKey empty for the whole flag,
// else for the flag's experiment or delivery rule with that key.
//
// Forced decisions are applied as the official Go SDK applies them:
//   - the flag's one comes before anything else (its decision has no rule
//     key, and counts as a feature test);
//   - a rule's one is checked when that rule's turn comes, experiments
//     first and then delivery rules in order, before the experiment's
//     whitelisting and profile and before the rule's audiences;
//   - VariationKey is looked up among all the flag's variations (its
//     experiments' first, then its delivery rules', in order), not only
//     the rule's; a key the flag does not have is ignored, with a reason;
//   - a forced variation is never saved to the profile and does not read
//     it, so a sticky assignment stays as it was.
//
// When several entries name the same flag and rule, the last one wins, as
// a later SetForcedDecision replaces an earlier one.
type ForcedDecision struct {
	FlagKey, RuleKey, VariationKey string
}

// MaxForcedDecisions bounds the forced decisions one request may give
// (the service's decide bodies, decide's request lines): each flag and
// each of its rules looks the user's up, so a decision's time grows with
// their number. Agent's clients force a few.
const MaxForcedDecisions = 100

// forcedFor returns the variation forced for flag f and rule ruleKey ("":
// the flag) and true, or nil and false when none is forced or the forced
// key is not one of f's variations (then rs says so, as the SDK does).
// Small enough to be inlined: a decision without forced decisions pays a
// length check per flag and rule.
func (cl *call) forcedFor(f *flag, ruleKey string, rs *reasons) (v *variation, ok bool) {
	if len(cl.forced) != 0 {
		v = cl.lookupForced(f, ruleKey, rs)
	}
	return v, v != nil
}

// lookupForced is forcedFor when the user has forced decisions.
func (cl *call) lookupForced(f *flag, ruleKey string, rs *reasons) *variation {
	i := len(cl.forced) - 1
	for ; i >= 0; i-- {
		if fd := &cl.forced[i]; fd.FlagKey == f.key && fd.RuleKey == ruleKey {
			break
		}
	}
	if i < 0 {
		return nil
	}
	key := cl.forced[i].VariationKey
	v := f.variationByKey(key)
	if rs.on {
		target := "flag (" + f.key + ")"
		if ruleKey != "" {
			target += ", rule (" + ruleKey + ")"
		}
		if v == nil {
			rs.infof("Invalid variation is mapped to %s and user (%s) in the forced decision map.", target, cl.userID)
		} else {
			rs.infof("Variation (%s) is mapped to %s and user (%s) in the forced decision map.", key, target, cl.userID)
		}
	}
	return v
}

// variationByKey returns the first of f's variations with key key: its
// experiments' in order, then its delivery rules', as the SDKs list a
// flag's variations for forced decisions; nil if none.
func (f *flag) variationByKey(key string) *variation {
	for _, e := range f.experiments {
		if v := e.variationByKey(key); v != nil {
			return v
		}
	}
	if f.rollout != nil {
		for _, r := range f.rollout.rules {
			if v := r.variationByKey(key); v != nil {
				return v
			}
		}
	}
	return nil
}
