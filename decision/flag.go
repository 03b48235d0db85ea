package decision

import "fmt"

// flag is a feature flag: A/B tests in order, then a rollout.
type flag struct {
	id, key     string
	experiments []*experiment
	// experimentIDs are the IDs of experiments, the profile entries a
	// decision of this flag can read. Never nil, so an empty scope reads
	// nothing rather than everything.
	experimentIDs []string
	rollout       *rollout // nil: no delivery
	variables     []variable
	defaults      []any
	// values holds, per variation of the flag's experiments and rules, the
	// typed values served when that variation enables the feature, aligned
	// with variables.
	values map[*variation][]any
}

type variable struct {
	id, key string
	typ     varType
}

func buildFlag(r *rawFlag, path string, experiments map[string]*experiment, rollouts map[string]*rollout, p *problems) *flag {
	f := &flag{id: r.ID, key: r.Key, values: map[*variation][]any{}}
	for i, id := range r.ExperimentIDs {
		e := experiments[id]
		if e == nil {
			p.addf("%s: experimentIds[%d]: unknown experiment %q", path, i, id)
			continue
		}
		f.experiments = append(f.experiments, e)
		f.experimentIDs = append(f.experimentIDs, e.id)
	}
	if f.experimentIDs == nil {
		f.experimentIDs = []string{}
	}
	if r.RolloutID != "" {
		f.rollout = rollouts[r.RolloutID]
		if f.rollout == nil {
			p.addf("%s: rolloutId: unknown rollout %q", path, r.RolloutID)
		}
	}

	ids, keys := newUnique("variable ID"), newUnique("variable key")
	index := map[string]int{} // variable ID → position
	for i, rv := range r.Variables {
		at := path + ": " + named("variables", i, rv.Key)
		okID, okKey := ids.check(rv.ID, at, p), keys.check(rv.Key, at, p)
		t := variableType(rv.Type, rv.SubType)
		def, err := typedValue(t, rv.DefaultValue)
		if err != nil {
			p.addf("%s: defaultValue (%s): %v", at, t, err)
		}
		if okID && okKey {
			index[rv.ID] = len(f.variables)
			f.variables = append(f.variables, variable{id: rv.ID, key: rv.Key, typ: t})
			f.defaults = append(f.defaults, def)
		}
	}

	typeValues := func(e *experiment, what string) {
		for _, v := range e.variations {
			if _, done := f.values[v]; done || len(v.values) == 0 {
				continue
			}
			vals := append([]any(nil), f.defaults...)
			for id, raw := range v.values {
				i, ok := index[id]
				if !ok {
					continue // a value for a variable the flag no longer has
				}
				tv, err := typedValue(f.variables[i].typ, raw)
				if err != nil {
					p.addf("%s: %s %q: variation %q: variable %q (%s): %v", path, what, e.key, v.key, f.variables[i].key, f.variables[i].typ, err)
					continue
				}
				vals[i] = tv
			}
			f.values[v] = vals
		}
	}
	for _, e := range f.experiments {
		typeValues(e, "experiment")
	}
	if f.rollout != nil {
		for _, rule := range f.rollout.rules {
			typeValues(rule, "rule")
		}
	}
	return f
}

// decideFlag decides one flag: each A/B test in order through the sticky
// experiment decision, the first variation winning (even one that disables
// the feature); otherwise the rollout.
func (cl *call) decideFlag(f *flag, rs *reasons) FlagDecision {
	d := FlagDecision{FlagKey: f.key}
	var v *variation
	for _, e := range f.experiments {
		if v = cl.decideExperiment(e, rs); v != nil {
			d.RuleKey, d.Source = e.key, SourceFeatureTest
			break
		}
	}
	if v == nil && f.rollout != nil {
		if v, d.RuleKey = cl.decideRollout(f.rollout, rs); v != nil {
			d.Source = SourceRollout
			d.EveryoneElse = f.rollout.everyoneElse(d.RuleKey)
		}
	}
	if v != nil {
		d.Enabled, d.VariationKey = v.featureEnabled, v.key
	} else if rs.on {
		rs.infof("User %q is in no experiment or rule of flag %q; the flag is off.", cl.userID, f.key)
	}
	if !cl.opts.excludeVariables {
		d.Variables = f.variablesFor(v, d.Enabled)
	}
	return d
}

// variablesFor returns the flag's variables: the variation's values when it
// enables the feature, the defaults otherwise (including when the variation
// disables it, whatever values it carries). Nothing is copied: Variables
// reads the values computed when the datafile was loaded.
func (f *flag) variablesFor(v *variation, enabled bool) Variables {
	vals := f.defaults
	if enabled && v != nil {
		if o, ok := f.values[v]; ok {
			vals = o
		}
	}
	return Variables{f: f, vals: vals}
}

// unknownFlag is the decision for a key the datafile does not have.
func unknownFlag(key string) FlagDecision {
	return FlagDecision{FlagKey: key, Reasons: []string{fmt.Sprintf("No flag was found for key %q.", key)}}
}
