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
	// values holds, per variation of the flag's experiments and rules that
	// sets any of its variables, the typed values served when that
	// variation enables the feature.
	values map[*variation]variationValues
}

type variable struct {
	id, key string
	typ     varType
}

// variationValues are a variation's typed values for one flag: all of
// them aligned with the flag's variables, or, when the flag has many more
// variables than the variation sets, only those it sets (the rest are the
// defaults). Either way building them costs in proportion to the
// datafile's size.
type variationValues struct {
	all []any
	set []setValue
}

type setValue struct {
	i int // index in the flag's variables
	v any
}

// denseFactor: a variation's values are stored aligned with the flag's
// variables when the flag has at most this many variables per value the
// variation sets.
const denseFactor = 8

// buildFlag builds a flag from the datafile: its experiments, its
// rollout, its variables and the typed values its variations set.
func (b *builder) buildFlag(r *rawFlag, at *path) *flag {
	f := &flag{id: r.ID, key: r.Key, experimentIDs: []string{}}
	checkLength("flag ID", r.ID, b.lim.MaxIDBytes, at, b.p)
	if !b.flagExperiments(f, r, at) {
		return f
	}
	rules := b.flagRollout(f, r, at)
	// Made here, where it stays on the stack: it does not outlive the
	// flag's building.
	index := map[string]int{} // variable ID → position
	if !b.flagVariables(f, r, at, index) {
		return f
	}
	var marks variableMarks
	for _, e := range f.experiments {
		b.typeValues(f, e, "experiment", index, &marks, at)
	}
	if rules {
		for _, rule := range f.rollout.rules {
			b.typeValues(f, rule, "rule", index, &marks, at)
		}
	}
	return f
}

// flagExperiments resolves the flag's experimentIds; false when the list
// could not be read (the flag is then left as it is).
func (b *builder) flagExperiments(f *flag, r *rawFlag, at *path) bool {
	lim, p := b.lim, b.p
	return eachString(b, r.ExperimentIDs, at, "experimentIds", func(i int, id string) {
		e := b.d.experimentByID[id]
		switch {
		case e == nil:
			if !p.full() {
				iat := elem(at, "experimentIds", i)
				p.add(&iat, "unknown experiment %s", quoted(id))
			}
		case e.flagUses >= lim.MaxFlagsPerExperiment:
			if !p.full() {
				iat := elem(at, "experimentIds", i)
				p.add(&iat, "experiment %s is used by more than %d flags", quoted(id), lim.MaxFlagsPerExperiment)
			}
		default:
			e.flagUses++
			f.experiments = append(f.experiments, e)
			f.experimentIDs = append(f.experimentIDs, e.id)
		}
	})
}

// flagRollout resolves the flag's rolloutId; true when the flag has a
// rollout whose rules' values are to be typed.
func (b *builder) flagRollout(f *flag, r *rawFlag, at *path) bool {
	if r.RolloutID == "" {
		return false
	}
	lim, p := b.lim, b.p
	f.rollout = b.rollouts[r.RolloutID]
	rat := field(at, "rolloutId")
	switch {
	case f.rollout == nil:
		p.add(&rat, "unknown rollout %s", quoted(r.RolloutID))
	case f.rollout.flagUses >= lim.MaxFlagsPerExperiment:
		p.add(&rat, "rollout %s is used by more than %d flags", quoted(r.RolloutID), lim.MaxFlagsPerExperiment)
	default:
		f.rollout.flagUses++
		return true
	}
	return false
}

// flagVariables reads the flag's variables with their typed defaults
// into f, and each variable ID's position into index; false when the
// list could not be read.
func (b *builder) flagVariables(f *flag, r *rawFlag, at *path, index map[string]int) bool {
	lim, p := b.lim, b.p
	ids, keys := newUnique("variable ID", lim.MaxIDBytes), newUnique("variable key", lim.MaxKeyBytes)
	rv := &b.variable
	return each(b, r.Variables, at, "variables", rv, func(i int) {
		vat := namedElem(at, "variables", i, rv.Key)
		okID, okKey := ids.check(rv.ID, rv.Key, &vat, p), keys.check(rv.Key, rv.Key, &vat, p)
		t := variableType(rv.Type, rv.SubType)
		def, ok := typedValue(t, rv.DefaultValue)
		if !ok && !p.full() {
			p.add(&vat, "defaultValue (%s): %s", t, valueProblem(t, rv.DefaultValue, p.lim.MaxQuoteBytes))
		}
		if okID && okKey {
			index[rv.ID] = len(f.variables)
			f.variables = append(f.variables, variable{id: rv.ID, key: rv.Key, typ: t})
			f.defaults = append(f.defaults, def)
		}
	})
}

// variableMarks tells which variables the variation being typed has set
// already: seen[i] == mark for variable i, set by a later entry (the last
// of duplicate IDs wins). One flag's variations share it.
type variableMarks struct {
	seen []int
	mark int
}

// typeValues types the values e's variations set for f's variables (index
// gives each variable ID's position) into f.values; what names e in
// messages: experiment or rule.
func (b *builder) typeValues(f *flag, e *experiment, what string, index map[string]int, m *variableMarks, at *path) {
	p := b.p
	for _, v := range e.variations {
		if len(v.values) == 0 || len(f.variables) == 0 {
			continue
		}
		if _, done := f.values[v]; done {
			continue
		}
		if m.seen == nil {
			m.seen = make([]int, len(f.variables))
		}
		m.mark++
		var set []setValue
		usages := b.usages[:0]
		each(b, v.values, nil, "variables", &b.usage, func(int) { usages = append(usages, b.usage) })
		b.usages = usages
		for j := len(usages) - 1; j >= 0; j-- {
			u := usages[j]
			i, ok := index[u.ID]
			if !ok || m.seen[i] == m.mark {
				continue // a value for a variable the flag no longer has, or overridden
			}
			m.seen[i] = m.mark
			tv, ok := typedValue(f.variables[i].typ, u.Value)
			if !ok {
				p.add(at, "%s %s: variation %s: variable %s (%s): %s", what, quoted(e.key), quoted(v.key),
					quoted(f.variables[i].key), f.variables[i].typ, valueProblem(f.variables[i].typ, u.Value, p.lim.MaxQuoteBytes))
				continue
			}
			set = append(set, setValue{i: i, v: tv})
		}
		if len(set) == 0 {
			continue
		}
		if f.values == nil {
			f.values = map[*variation]variationValues{}
		}
		f.values[v] = f.newValues(set)
	}
}

// newValues stores the values a variation sets: aligned with the flag's
// variables, or only those set when the flag has many more.
func (f *flag) newValues(set []setValue) variationValues {
	var vals variationValues
	if len(f.variables) <= denseFactor*len(set) {
		vals.all = append([]any(nil), f.defaults...)
		for _, s := range set {
			vals.all[s.i] = s.v
		}
	} else {
		vals.set = set
	}
	return vals
}

// decideFlag decides one flag: a forced decision for the flag first, then
// each A/B test in order (its forced decision, then the sticky experiment
// decision), the first variation winning (even one that disables the
// feature); otherwise the rollout.
func (cl *call) decideFlag(f *flag, rs *reasons) FlagDecision {
	d := FlagDecision{FlagKey: f.key}
	cl.use = ProfileUnused
	var (
		v    *variation
		rule *experiment
	)
	if fv, ok := cl.forcedFor(f, "", rs); ok {
		// The SDK's decision names no rule: no rule key, no IDs but the
		// variation's, and counts as a feature test.
		d.Source, d.Forced = SourceFeatureTest, true
		d.Enabled, d.VariationKey, d.VariationID = fv.featureEnabled, fv.key, fv.id
		if !cl.opts.excludeVariables {
			d.Variables = f.variablesFor(fv, d.Enabled)
		}
		return d
	}
	for _, e := range f.experiments {
		if fv, ok := cl.forcedFor(f, e.key, rs); ok {
			v, rule, d.Source, d.Forced = fv, e, SourceFeatureTest, true
			break
		}
		if v = cl.decideExperiment(e, rs); v != nil {
			rule, d.Source = e, SourceFeatureTest
			break
		}
	}
	if v == nil {
		if f.rollout == nil {
			if rs.on {
				rs.infof(`Rollout with ID "" is not in the datafile.`)
			}
		} else if v, rule, d.Forced = cl.decideRollout(f, rs); v != nil {
			d.Source = SourceRollout
			d.EveryoneElse = f.rollout.everyoneElse(rule.key)
		}
	}
	if v != nil {
		d.Enabled, d.VariationKey, d.VariationID = v.featureEnabled, v.key, v.id
		d.RuleKey, d.ExperimentID, d.LayerID = rule.key, rule.id, rule.layerID
	}
	if !cl.opts.excludeVariables {
		d.Variables = f.variablesFor(v, d.Enabled)
	}
	d.Profile = cl.use
	return d
}

// variablesFor returns the flag's variables: the variation's values when it
// enables the feature, the defaults otherwise (including when the variation
// disables it, whatever values it carries). Nothing is copied: Variables
// reads the values computed when the datafile was loaded.
func (f *flag) variablesFor(v *variation, enabled bool) Variables {
	vals := f.defaults
	var set []setValue
	if enabled && v != nil {
		if o, ok := f.values[v]; ok {
			if o.all != nil {
				vals = o.all
			}
			set = o.set
		}
	}
	return Variables{f: f, vals: vals, set: set}
}

// servedValue is a typed value as a decision serves it: JSON values are
// copied, so callers may change them.
func servedValue(t varType, v any) any {
	if t == varJSON {
		return cloneJSON(v)
	}
	return v
}

// unknownFlag is the decision for a key the datafile does not have.
func unknownFlag(key string) FlagDecision {
	return FlagDecision{FlagKey: key, Reasons: []string{fmt.Sprintf(`No flag was found for key "%s".`, key)}}
}
