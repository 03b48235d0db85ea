package decision

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// OptimizelyConfig is a datafile seen as the Optimizely SDKs'
// GetOptimizelyConfig and Agent's GET /v1/config present it: experiments
// and features by key, with their variations and variables. The JSON field
// names are the SDKs'. Audiences, attributes and events are not included.
type OptimizelyConfig struct {
	Revision       string                          `json:"revision"`
	SDKKey         string                          `json:"sdkKey"`
	EnvironmentKey string                          `json:"environmentKey"`
	ExperimentsMap map[string]OptimizelyExperiment `json:"experimentsMap"`
	FeaturesMap    map[string]OptimizelyFeature    `json:"featuresMap"`
}

// OptimizelyExperiment is an experiment or rollout rule.
type OptimizelyExperiment struct {
	ID            string                         `json:"id"`
	Key           string                         `json:"key"`
	VariationsMap map[string]OptimizelyVariation `json:"variationsMap"`
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
// variables with their default values.
type OptimizelyFeature struct {
	ID              string                          `json:"id"`
	Key             string                          `json:"key"`
	ExperimentRules []OptimizelyExperiment          `json:"experimentRules"`
	DeliveryRules   []OptimizelyExperiment          `json:"deliveryRules"`
	VariablesMap    map[string]OptimizelyVariable   `json:"variablesMap"`
	ExperimentsMap  map[string]OptimizelyExperiment `json:"experimentsMap"`
}

// OptimizelyVariable is a variable and its value as a string, as the
// datafile writes it.
type OptimizelyVariable struct {
	ID    string `json:"id"`
	Key   string `json:"key"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

// OptimizelyConfig returns the datafile's experiments and features by key.
// An experiment key shared by several experiments appears once.
func (d *Datafile) OptimizelyConfig() OptimizelyConfig {
	oc := OptimizelyConfig{
		Revision:       d.revision,
		ExperimentsMap: map[string]OptimizelyExperiment{},
		FeaturesMap:    make(map[string]OptimizelyFeature, len(d.flags)),
	}
	// Variables as seen in each experiment's variations, from the flags
	// that use the experiment.
	flagOf := map[*experiment]*flag{}
	for _, f := range d.flags {
		for _, e := range f.experiments {
			flagOf[e] = f
		}
	}
	for _, e := range d.experiments {
		if _, dup := oc.ExperimentsMap[e.key]; !dup {
			oc.ExperimentsMap[e.key] = optimizelyExperiment(e, flagOf[e])
		}
	}
	for _, f := range d.flags {
		of := OptimizelyFeature{
			ID: f.id, Key: f.key,
			ExperimentRules: []OptimizelyExperiment{},
			DeliveryRules:   []OptimizelyExperiment{},
			VariablesMap:    f.variablesWith(nil),
			ExperimentsMap:  map[string]OptimizelyExperiment{},
		}
		for _, e := range f.experiments {
			oe := optimizelyExperiment(e, f)
			of.ExperimentRules = append(of.ExperimentRules, oe)
			of.ExperimentsMap[e.key] = oe
		}
		if f.rollout != nil {
			for _, rule := range f.rollout.rules {
				of.DeliveryRules = append(of.DeliveryRules, optimizelyExperiment(rule, f))
			}
		}
		oc.FeaturesMap[f.key] = of
	}
	return oc
}

func optimizelyExperiment(e *experiment, f *flag) OptimizelyExperiment {
	oe := OptimizelyExperiment{ID: e.id, Key: e.key, VariationsMap: make(map[string]OptimizelyVariation, len(e.variations))}
	for _, v := range e.variations {
		ov := OptimizelyVariation{ID: v.id, Key: v.key, FeatureEnabled: v.featureEnabled, VariablesMap: map[string]OptimizelyVariable{}}
		if f != nil {
			ov.VariablesMap = f.variablesWith(v)
		}
		oe.VariationsMap[v.key] = ov
	}
	return oe
}

// variablesWith lists the flag's variables with the values variation v
// gives them when it enables the feature, else their defaults.
func (f *flag) variablesWith(v *variation) map[string]OptimizelyVariable {
	vars := f.variablesFor(v, v != nil && v.featureEnabled)
	m := make(map[string]OptimizelyVariable, len(f.variables))
	for i, vr := range f.variables {
		m[vr.key] = OptimizelyVariable{ID: vr.id, Key: vr.key, Type: vr.typ.String(), Value: variableString(vars.value(i))}
	}
	return m
}

// variableString writes a typed variable value back as the datafile's
// string.
func variableString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
