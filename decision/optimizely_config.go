package decision

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// OptimizelyConfig is a datafile as the official Go SDK's
// GetOptimizelyConfig presents it, and Agent's GET /v1/config serves it:
// the project's attributes, audiences and events, and its experiments and
// features by key with their variations, variables and audiences. Field
// names and values are the SDK's, including its quirks (see
// NewOptimizelyConfig); only the order of Attributes, Audiences and Events
// differs: the SDK lists them in map order, which changes from run to run,
// and they are in datafile order here.
type OptimizelyConfig struct {
	EnvironmentKey string `json:"environmentKey"`
	SDKKey         string `json:"sdkKey"`
	Revision       string `json:"revision"`
	// ExperimentsMap holds the experiments (rollout rules are not
	// experiments). A key used by several experiments (flags-first
	// projects allow that across flags) holds the first in datafile order;
	// every one is in its flag's ExperimentRules.
	ExperimentsMap map[string]OptimizelyExperiment `json:"experimentsMap"`
	FeaturesMap    map[string]OptimizelyFeature    `json:"featuresMap"`
	Attributes     []OptimizelyAttribute           `json:"attributes"`
	Audiences      []OptimizelyAudience            `json:"audiences"`
	Events         []OptimizelyEvent               `json:"events"`
}

// OptimizelyExperiment is an experiment or rollout rule. Audiences is its
// audienceConditions written out with audience names, as the SDKs do:
// `"us" OR ("female" AND NOT "beta")`; empty for everyone.
type OptimizelyExperiment struct {
	ID            string                         `json:"id"`
	Key           string                         `json:"key"`
	Audiences     string                         `json:"audiences"`
	VariationsMap map[string]OptimizelyVariation `json:"variationsMap"`
}

// OptimizelyAttribute is an attribute of the datafile.
type OptimizelyAttribute struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

// OptimizelyAudience is an audience and its conditions as JSON text (the
// datafile's string, or a typed audience's tree encoded).
type OptimizelyAudience struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Conditions string `json:"conditions"`
}

// OptimizelyEvent is a conversion event and the experiments it counts
// for (null when the datafile lists none, as in the SDK).
type OptimizelyEvent struct {
	ID            string   `json:"id"`
	Key           string   `json:"key"`
	ExperimentIDs []string `json:"experimentIds"`
}

// OptimizelyVariation is one variation and, for a flag's rules, the value
// each variable of the flag takes in it.
type OptimizelyVariation struct {
	ID             string                        `json:"id"`
	Key            string                        `json:"key"`
	FeatureEnabled bool                          `json:"featureEnabled"`
	VariablesMap   map[string]OptimizelyVariable `json:"variablesMap"`
}

// OptimizelyFeature is a flag: its A/B tests, its rollout rules and its
// variables with their default values. ExperimentsMap is ExperimentRules
// by key (deprecated in the SDKs, still served).
type OptimizelyFeature struct {
	ID              string                          `json:"id"`
	Key             string                          `json:"key"`
	ExperimentRules []OptimizelyExperiment          `json:"experimentRules"`
	DeliveryRules   []OptimizelyExperiment          `json:"deliveryRules"`
	VariablesMap    map[string]OptimizelyVariable   `json:"variablesMap"`
	ExperimentsMap  map[string]OptimizelyExperiment `json:"experimentsMap"`
}

// OptimizelyVariable is a variable and its value as the datafile writes it.
type OptimizelyVariable struct {
	ID    string `json:"id"`
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// MaxOptimizelyConfigValues bounds how many variable values an
// OptimizelyConfig may list, counting each time one is written (an A/B
// test is listed three times: in ExperimentsMap and in its flag's
// ExperimentRules and ExperimentsMap). Every variation lists every
// variable of its flag, so a datafile can ask for variations times
// variables values; beyond this bound (about 100 MB of JSON)
// NewOptimizelyConfig refuses rather than build it.
const MaxOptimizelyConfigValues = 1 << 20

// ErrOptimizelyConfigTooLarge: the datafile's OptimizelyConfig would
// exceed MaxOptimizelyConfigValues.
var ErrOptimizelyConfigTooLarge = errors.New("the datafile's OptimizelyConfig is too large")

// NewOptimizelyConfig builds the OptimizelyConfig of a datafile the way the
// official Go SDK (v2) does. Call it on a datafile ParseDatafile accepted,
// once per datafile (the SDK, and Agent, build it once per datafile too):
// it decodes data again, whole, in time and memory proportional to its
// size and to the config's (bounded by MaxOptimizelyConfigValues).
//
// It reads the datafile as written, as the SDK does: variable values and
// audience conditions are the datafile's text, a JSON variable has type
// "json" (also for type "string" with subType "json"), another unknown
// type is kept as written. Where the datafile repeats an ID or key, the
// SDK keeps one entry, and so does this: the first attribute per ID, the
// first audience per ID (typedAudiences before audiences, and not the
// "$opt_dummy_audience" Optimizely adds for old SDKs), the last event per
// key. A variation's variables are those of the flag that runs its
// experiment (the first such flag; the SDK picks one in map order), plus
// any other variable whose ID the variation sets (an unknown ID gives an
// entry keyed ""); its feature disabled, each takes its default.
func NewOptimizelyConfig(data []byte) (*OptimizelyConfig, error) {
	var df configDatafile
	if err := json.Unmarshal(data, &df); err != nil {
		return nil, fmt.Errorf("decision: OptimizelyConfig: decode the datafile: %w", err)
	}
	b := configBuilder{df: &df}
	return b.build()
}

// OptimizelyConfigJSON is NewOptimizelyConfig encoded as JSON, followed by
// a newline, for a datafile served under SDK key servedAs: its sdkKey is
// the datafile's (as the SDK's), or servedAs when the datafile names none.
// The result is meant to be built once per datafile and kept.
func OptimizelyConfigJSON(data []byte, servedAs string) ([]byte, error) {
	oc, err := NewOptimizelyConfig(data)
	if err != nil {
		return nil, err
	}
	if oc.SDKKey == "" {
		oc.SDKKey = servedAs
	}
	b, err := json.Marshal(oc)
	if err != nil {
		return nil, fmt.Errorf("decision: OptimizelyConfig: encode: %w", err)
	}
	return append(b, '\n'), nil
}

// The config* types are the datafile as the OptimizelyConfig reads it,
// decoded with encoding/json as the SDK decodes it (audience conditions
// and audienceConditions as any, numbers as float64).
type configDatafile struct {
	Revision       string             `json:"revision"`
	SDKKey         string             `json:"sdkKey"`
	EnvironmentKey string             `json:"environmentKey"`
	Attributes     []rawAttribute     `json:"attributes"`
	TypedAudiences []configAudience   `json:"typedAudiences"`
	Audiences      []configAudience   `json:"audiences"`
	Events         []OptimizelyEvent  `json:"events"`
	Experiments    []configExperiment `json:"experiments"`
	Groups         []struct {
		Experiments []configExperiment `json:"experiments"`
	} `json:"groups"`
	Rollouts []struct {
		ID          string             `json:"id"`
		Experiments []configExperiment `json:"experiments"`
	} `json:"rollouts"`
	FeatureFlags []struct {
		ID            string        `json:"id"`
		Key           string        `json:"key"`
		RolloutID     string        `json:"rolloutId"`
		ExperimentIDs []string      `json:"experimentIds"`
		Variables     []rawVariable `json:"variables"`
	} `json:"featureFlags"`
}

type configAudience struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Conditions any    `json:"conditions"`
}

type configExperiment struct {
	ID                 string `json:"id"`
	Key                string `json:"key"`
	AudienceConditions any    `json:"audienceConditions"`
	Variations         []struct {
		ID             string        `json:"id"`
		Key            string        `json:"key"`
		FeatureEnabled bool          `json:"featureEnabled"`
		Variables      []rawVarUsage `json:"variables"`
	} `json:"variations"`
}

// configVariable is a flag variable with its type as the SDK names it.
type configVariable struct {
	id, key, typ, def string
}

// configFlag is a flag's variables, in datafile order, the last of a
// repeated key winning.
type configFlag struct {
	vars []configVariable
}

type configBuilder struct {
	df *configDatafile
	// audienceNames maps audience IDs to names (typed audiences first).
	audienceNames map[string]string
	// varByID maps every flag variable's ID to it, across flags.
	varByID map[string]configVariable
	// values counts the variable values written so far.
	values int
}

func (b *configBuilder) build() (*OptimizelyConfig, error) {
	df := b.df
	oc := &OptimizelyConfig{
		EnvironmentKey: df.EnvironmentKey,
		SDKKey:         df.SDKKey,
		Revision:       df.Revision,
		ExperimentsMap: map[string]OptimizelyExperiment{},
		FeaturesMap:    make(map[string]OptimizelyFeature, len(df.FeatureFlags)),
		Attributes:     b.attributes(),
		Audiences:      b.audiences(),
		Events:         b.events(),
	}

	// Flags: the last of a repeated key wins, as in the SDK's map by key.
	lastFlag := make(map[string]int, len(df.FeatureFlags))
	for i, f := range df.FeatureFlags {
		lastFlag[f.Key] = i
	}
	flags := make([]*configFlag, len(df.FeatureFlags))
	b.varByID = map[string]configVariable{}
	for i, f := range df.FeatureFlags {
		cf := &configFlag{}
		at := map[string]int{}
		for _, v := range f.Variables {
			typ := v.Type
			if typ == "string" && v.SubType == "json" {
				typ = "json"
			}
			cv := configVariable{id: v.ID, key: v.Key, typ: typ, def: v.DefaultValue}
			if j, ok := at[v.Key]; ok {
				cf.vars[j] = cv
				continue
			}
			at[v.Key] = len(cf.vars)
			cf.vars = append(cf.vars, cv)
		}
		flags[i] = cf
		if lastFlag[f.Key] == i {
			for _, v := range cf.vars {
				b.varByID[v.id] = v
			}
		}
	}

	// Experiments (top-level, then groups'), the last of a repeated ID
	// winning, but not those that are also rollout rules.
	rules := map[string]bool{}
	lastRollout := map[string]int{}
	for i, r := range df.Rollouts {
		lastRollout[r.ID] = i
	}
	for _, i := range lastRollout {
		for _, e := range df.Rollouts[i].Experiments {
			rules[e.ID] = true
		}
	}
	all := append([]configExperiment(nil), df.Experiments...)
	for _, g := range df.Groups {
		all = append(all, g.Experiments...)
	}
	lastExp := make(map[string]int, len(all))
	for i, e := range all {
		lastExp[e.ID] = i
	}
	// The flag whose variables an experiment's variations show: the
	// first (kept) flag listing it.
	flagOf := map[string]*configFlag{}
	for i, f := range df.FeatureFlags {
		if lastFlag[f.Key] != i {
			continue
		}
		for _, id := range f.ExperimentIDs {
			if _, ok := flagOf[id]; !ok {
				flagOf[id] = flags[i]
			}
		}
	}
	experiments := map[string]OptimizelyExperiment{}
	for i, e := range all {
		if lastExp[e.ID] != i || rules[e.ID] {
			continue
		}
		oe, err := b.experiment(&e, flagOf[e.ID])
		if err != nil {
			return nil, err
		}
		experiments[e.ID] = oe
		if _, dup := oc.ExperimentsMap[e.Key]; !dup {
			oc.ExperimentsMap[e.Key] = oe
			b.values += countValues(oe)
		}
	}

	for i, f := range df.FeatureFlags {
		if lastFlag[f.Key] != i {
			continue
		}
		of := OptimizelyFeature{
			ID: f.ID, Key: f.Key,
			ExperimentRules: []OptimizelyExperiment{},
			DeliveryRules:   []OptimizelyExperiment{},
			VariablesMap:    flags[i].defaults(),
			ExperimentsMap:  map[string]OptimizelyExperiment{},
		}
		for _, id := range f.ExperimentIDs {
			if oe, ok := experiments[id]; ok {
				of.ExperimentRules = append(of.ExperimentRules, oe)
				of.ExperimentsMap[oe.Key] = oe
				b.values += 2 * countValues(oe)
			}
		}
		if r, ok := lastRollout[f.RolloutID]; ok {
			for _, rule := range df.Rollouts[r].Experiments {
				oe, err := b.experiment(&rule, flags[i])
				if err != nil {
					return nil, err
				}
				of.DeliveryRules = append(of.DeliveryRules, oe)
				b.values += countValues(oe)
			}
		}
		b.values += len(of.VariablesMap)
		if b.values > MaxOptimizelyConfigValues {
			return nil, b.tooLarge()
		}
		oc.FeaturesMap[f.Key] = of
	}
	return oc, nil
}

func (b *configBuilder) tooLarge() error {
	return fmt.Errorf("%w: it would list more than %d variable values (each variation lists every variable of its flag); the datafile itself is served by GET /v1/datafile",
		ErrOptimizelyConfigTooLarge, MaxOptimizelyConfigValues)
}

func countValues(oe OptimizelyExperiment) int {
	n := 0
	for _, v := range oe.VariationsMap {
		n += len(v.VariablesMap)
	}
	return n
}

func (b *configBuilder) attributes() []OptimizelyAttribute {
	out := make([]OptimizelyAttribute, 0, len(b.df.Attributes))
	seen := make(map[string]bool, len(b.df.Attributes))
	for _, a := range b.df.Attributes {
		if !seen[a.ID] {
			seen[a.ID] = true
			out = append(out, OptimizelyAttribute{ID: a.ID, Key: a.Key})
		}
	}
	return out
}

// dummyAudience is the audience Optimizely adds to datafiles for SDKs
// that predate typed audiences; the SDK leaves it out of the config.
const dummyAudience = "$opt_dummy_audience"

func (b *configBuilder) audiences() []OptimizelyAudience {
	df := b.df
	out := []OptimizelyAudience{}
	b.audienceNames = make(map[string]string, len(df.TypedAudiences)+len(df.Audiences))
	for _, list := range [][]configAudience{df.TypedAudiences, df.Audiences} {
		for _, a := range list {
			if _, seen := b.audienceNames[a.ID]; seen {
				continue
			}
			b.audienceNames[a.ID] = a.Name
			if a.ID != dummyAudience {
				out = append(out, OptimizelyAudience{ID: a.ID, Name: a.Name, Conditions: conditionsText(a.Conditions)})
			}
		}
	}
	return out
}

// conditionsText is an audience's conditions as text: a string as it is,
// a tree encoded as encoding/json encodes what it decoded (keys sorted,
// numbers as float64), nothing for null.
func conditionsText(c any) string {
	switch x := c.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, err := json.Marshal(c)
	if err != nil {
		return ""
	}
	return string(b)
}

func (b *configBuilder) events() []OptimizelyEvent {
	last := make(map[string]int, len(b.df.Events))
	for i, e := range b.df.Events {
		last[e.Key] = i
	}
	out := make([]OptimizelyEvent, 0, len(last))
	for i, e := range b.df.Events {
		if last[e.Key] == i {
			out = append(out, e)
		}
	}
	return out
}

// experiment is an experiment or rule with its variations' variables as
// flag f (nil: none) and the variations set them.
func (b *configBuilder) experiment(e *configExperiment, f *configFlag) (OptimizelyExperiment, error) {
	oe := OptimizelyExperiment{
		ID: e.ID, Key: e.Key,
		Audiences:     b.audienceText(e.AudienceConditions),
		VariationsMap: make(map[string]OptimizelyVariation, len(e.Variations)),
	}
	// The last variation of a repeated ID wins, then the last of a
	// repeated key. n counts the values built, checked against the bound
	// before they are counted where written (see build).
	n := 0
	last := make(map[string]int, len(e.Variations))
	for i, v := range e.Variations {
		last[v.ID] = i
	}
	for i, v := range e.Variations {
		if last[v.ID] != i {
			continue
		}
		vars := f.defaults()
		// A variation's value per variable ID (the last of a repeated
		// ID), on the variable of that ID in any flag.
		set := make(map[string]string, len(v.Variables))
		for _, u := range v.Variables {
			set[u.ID] = u.Value
		}
		for _, u := range v.Variables {
			value, ok := set[u.ID]
			if !ok {
				continue // written already
			}
			delete(set, u.ID)
			def := b.varByID[u.ID] // zero for an unknown ID, as in the SDK
			if !v.FeatureEnabled {
				value = def.def
			}
			vars[def.key] = OptimizelyVariable{ID: u.ID, Key: def.key, Type: def.typ, Value: value}
		}
		n += len(vars)
		if b.values+n > MaxOptimizelyConfigValues {
			return OptimizelyExperiment{}, b.tooLarge()
		}
		oe.VariationsMap[v.Key] = OptimizelyVariation{ID: v.ID, Key: v.Key, FeatureEnabled: v.FeatureEnabled, VariablesMap: vars}
	}
	return oe, nil
}

// defaults is the flag's variables at their default values (none for a
// nil flag).
func (f *configFlag) defaults() map[string]OptimizelyVariable {
	if f == nil {
		return map[string]OptimizelyVariable{}
	}
	m := make(map[string]OptimizelyVariable, len(f.vars))
	for _, v := range f.vars {
		m[v.key] = OptimizelyVariable{ID: v.id, Key: v.key, Type: v.typ, Value: v.def}
	}
	return m
}

// audienceText writes audienceConditions out with audience names, as the
// SDKs' OptimizelyConfig does: `"a" OR "b"`, `"a" AND NOT "b"`, a nested
// list in parentheses. Only a list is written (a string or an absent
// field gives ""). The operator in force joins each further operand; it
// is OR until a list names another, and "not" puts NOT before the first.
// Two quirks of the Go SDK are kept: an unknown audience ID is written as
// itself, but as "" when it comes first after "not"; and a nested list
// that writes nothing is still written as "()".
func (b *configBuilder) audienceText(conditions any) string {
	list, ok := conditions.([]any)
	if !ok {
		return ""
	}
	var out strings.Builder
	op := ""
	join := func(operand string) {
		if out.Len() == 0 && op != "NOT" {
			out.WriteString(operand)
			return
		}
		if op == "" {
			op = "OR"
		}
		if out.Len() > 0 {
			out.WriteByte(' ')
		}
		out.WriteString(op)
		out.WriteByte(' ')
		out.WriteString(operand)
	}
	for _, item := range list {
		switch x := item.(type) {
		case []any:
			join("(" + b.audienceText(x) + ")")
		case string:
			switch x {
			case "and", "or", "not":
				op = strings.ToUpper(x)
				continue
			}
			name, known := b.audienceNames[x]
			if !known && (out.Len() > 0 || op != "NOT") {
				name = x
			}
			join(strconv.Quote(name))
		}
	}
	return out.String()
}
