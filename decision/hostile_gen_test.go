package decision_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Generators for the datafiles that the parse benchmarks and the limit tests
// feed to ParseDatafile: hostile ones that once cost far more than their
// size, and a large realistic one. They are built in memory, never
// committed.

// hostileBytes is the target size of most hostile datafiles: 1 MB.
const hostileBytes = 1 << 20

// longKeyBytes is the length of the experiment key in the long-key shapes.
const longKeyBytes = 1 << 20

// longKeyExperiment returns a datafile with one experiment whose key is
// longKeyBytes long and whose trafficAllocation has n entries, each naming
// a variation that does not exist when bad is set and the experiment's one
// variation otherwise.
func longKeyExperiment(n int, bad bool) []byte {
	var b bytes.Buffer
	b.WriteString(`{"version": "4", "revision": "1", "experiments": [{"id": "100", "key": "`)
	b.WriteString(strings.Repeat("k", longKeyBytes))
	b.WriteString(`", "status": "Running", "variations": [{"id": "200", "key": "on"}], "trafficAllocation": [`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		entity := "200"
		if bad {
			entity = "x" + strconv.Itoa(i)
		}
		fmt.Fprintf(&b, `{"entityId": %q, "endOfRange": %d}`, entity, 10000*(i+1)/n)
	}
	b.WriteString(`]}]}`)
	return b.Bytes()
}

// The three hostile shapes of the findings.
var (
	// longKeyBadTraffic: a 1 MB experiment key and 200 traffic entries
	// naming unknown variations (1 MB).
	longKeyBadTraffic = sync.OnceValue(func() []byte { return longKeyExperiment(200, true) })
	// longKeyManyRanges: a 1 MB experiment key and 20,000 valid traffic
	// entries (1.7 MB).
	longKeyManyRanges = sync.OnceValue(func() []byte { return longKeyExperiment(20000, false) })
	// deepAudience: a typed audience whose conditions nest 9,990 lists
	// deep (80 KB), used by an experiment.
	deepAudience = sync.OnceValue(func() []byte { return deepConditions(9990, false) })
)

// deepConditions returns a datafile with one typed audience nested depth
// lists deep; legacy puts the conditions in a JSON string, as the legacy
// audiences list does.
func deepConditions(depth int, legacy bool) []byte {
	tree := strings.Repeat(`["and",`, depth) +
		`{"type": "custom_attribute", "name": "country", "match": "exact", "value": "us"}` +
		strings.Repeat(`]`, depth)
	list, conditions := "typedAudiences", tree
	if legacy {
		list, conditions = "audiences", strconv.Quote(tree)
	}
	return []byte(`{"version": "4", "revision": "1", "` + list + `": [{"id": "300", "name": "deep", "conditions": ` + conditions + `}],
	  "experiments": [{"id": "100", "key": "exp", "status": "Running", "audienceIds": ["300"],
	    "variations": [{"id": "200", "key": "on"}], "trafficAllocation": [{"entityId": "200", "endOfRange": 10000}]}]}`)
}

// deepAudienceConditions returns a datafile whose experiment's
// audienceConditions nest depth lists deep.
func deepAudienceConditions(depth int) []byte {
	tree := strings.Repeat(`["and",`, depth) + `"300"` + strings.Repeat(`]`, depth)
	return []byte(`{"version": "4", "revision": "1",
	  "typedAudiences": [{"id": "300", "name": "us", "conditions": ["or", {"type": "custom_attribute", "name": "country", "value": "us"}]}],
	  "experiments": [{"id": "100", "key": "exp", "status": "Running", "audienceConditions": ` + tree + `,
	    "variations": [{"id": "200", "key": "on"}], "trafficAllocation": [{"entityId": "200", "endOfRange": 10000}]}]}`)
}

// emptyExperiments is hostileBytes of experiments written as {}: the
// smallest elements, each of which used to cost a full decoded experiment.
var emptyExperiments = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.WriteString(`{"version": "4", "revision": "1", "experiments": [{}`)
	for b.Len() < hostileBytes {
		b.WriteString(`,{}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
})

// tinyExperiments is hostileBytes of valid, minimal experiments.
var tinyExperiments = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.WriteString(`{"version": "4", "revision": "1", "experiments": [`)
	for i := 0; b.Len() < hostileBytes; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%d","key":"%d"}`, i, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
})

// leafFlood is hostileBytes of one typed audience whose conditions are
// empty leaves, ["or", {}, {}, …]: the smallest condition, each of which
// becomes a map when decoded and a node when built.
var leafFlood = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.WriteString(`{"version": "4", "revision": "1", "typedAudiences": [{"id": "1", "name": "flood", "conditions": ["or"`)
	for b.Len() < hostileBytes {
		b.WriteString(`,{}`)
	}
	b.WriteString(`]}]}`)
	return b.Bytes()
})

// refFlood is hostileBytes of references to one audience in one
// experiment's audienceIds.
var refFlood = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.WriteString(`{"version": "4", "revision": "1", "typedAudiences": [{"id": "1", "name": "a", "conditions": ["or", {"name": "x"}]}],
	  "experiments": [{"id": "2", "key": "e", "status": "Running", "variations": [], "trafficAllocation": [], "audienceIds": ["1"`)
	for b.Len() < hostileBytes {
		b.WriteString(`,"1"`)
	}
	b.WriteString(`]}]}`)
	return b.Bytes()
})

// nestedFlood returns hostileBytes of empty objects in a list nested in
// one element: prefix opens it, suffix closes it.
func nestedFlood(prefix, suffix string) []byte {
	var b bytes.Buffer
	b.WriteString(prefix)
	b.WriteString(`{}`)
	for b.Len() < hostileBytes {
		b.WriteString(`,{}`)
	}
	b.WriteString(suffix)
	return b.Bytes()
}

// The smallest elements in each nested list of structs.
var (
	groupFlood = sync.OnceValue(func() []byte { return nestedFlood(`{"version": "4", "groups": [{"id": "1", "experiments": [`, `]}]}`) })
	ruleFlood  = sync.OnceValue(func() []byte {
		return nestedFlood(`{"version": "4", "rollouts": [{"id": "1", "experiments": [`, `]}]}`)
	})
	variationFlood = sync.OnceValue(func() []byte {
		return nestedFlood(`{"version": "4", "experiments": [{"id": "1", "key": "e", "variations": [`, `]}]}`)
	})
	rangeFlood = sync.OnceValue(func() []byte {
		return nestedFlood(`{"version": "4", "experiments": [{"id": "1", "key": "e", "trafficAllocation": [`, `]}]}`)
	})
	variableFlood = sync.OnceValue(func() []byte {
		return nestedFlood(`{"version": "4", "featureFlags": [{"id": "1", "key": "f", "variables": [`, `]}]}`)
	})
)

// sharedExperiment is hostileBytes of flags that all use one experiment of
// many variations, each variation carrying a value for every flag's
// variable: the typed values of every flag for every variation once cost
// flags × variations.
var sharedExperiment = sync.OnceValue(func() []byte {
	const variations, flags = 10000, 9000
	var b bytes.Buffer
	b.WriteString(`{"version": "4", "revision": "1", "experiments": [{"id": "1", "key": "shared", "status": "Running", "variations": [`)
	for i := range variations {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"v%d","key":"%d","variables":[{"id":"x","value":"1"}]}`, i, i)
	}
	b.WriteString(`]}], "featureFlags": [`)
	for i := range flags {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"f%d","key":"%d","experimentIds":["1"],"variables":[{"id":"x","key":"x","type":"integer","defaultValue":"0"}]}`, i, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
})

// manyVariablesManyVariations is one flag of 7,000 variables and its
// experiment of 11,000 variations, each overriding one variable: the typed
// values once copied every default into every variation.
var manyVariablesManyVariations = sync.OnceValue(func() []byte {
	const variables, variations = 7000, 11000
	var b bytes.Buffer
	b.WriteString(`{"version": "4", "revision": "1", "experiments": [{"id": "1", "key": "wide", "status": "Running", "variations": [`)
	for i := range variations {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"v%d","key":"%d","variables":[{"id":"x%d","value":"1"}]}`, i, i, i%variables)
	}
	b.WriteString(`]}], "featureFlags": [{"id":"f","key":"f","experimentIds":["1"],"variables":[`)
	for i := range variables {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"x%d","key":"k%d","type":"integer","defaultValue":"0"}`, i, i)
	}
	b.WriteString(`]}]}`)
	return b.Bytes()
})

// largeDatafile is a realistic project of 170,000 experiments (about 55
// MB): 2–3 variations each with traffic allocations and audiences, a tenth
// of them in mutual-exclusion groups, one in forty behind feature flags
// whose variations set the flags' variables, every flag with a rollout of a
// targeted rule and "Everyone Else". Optional fields are left out when
// empty, as compact datafiles do, so that 170,000 experiments fit in 55 MB.
var largeDatafile = sync.OnceValue(func() []byte {
	b, err := json.Marshal(largeProject(170000))
	if err != nil {
		panic(err)
	}
	return b
})

type leanDatafile struct {
	Version        string            `json:"version"`
	Revision       string            `json:"revision"`
	AccountID      string            `json:"accountId"`
	ProjectID      string            `json:"projectId"`
	Attributes     []genAttribute    `json:"attributes"`
	TypedAudiences []genAudience     `json:"typedAudiences"`
	Audiences      []genAudience     `json:"audiences"`
	Experiments    []*leanExperiment `json:"experiments"`
	Groups         []*leanGroup      `json:"groups"`
	FeatureFlags   []*genFlag        `json:"featureFlags"`
	Rollouts       []*leanRollout    `json:"rollouts"`
}

type leanExperiment struct {
	ID                 string            `json:"id"`
	Key                string            `json:"key"`
	LayerID            string            `json:"layerId,omitempty"`
	Status             string            `json:"status"`
	Variations         []*leanVariation  `json:"variations"`
	TrafficAllocation  []genRange        `json:"trafficAllocation"`
	AudienceIDs        []string          `json:"audienceIds,omitempty"`
	AudienceConditions any               `json:"audienceConditions,omitempty"`
	ForcedVariations   map[string]string `json:"forcedVariations,omitempty"`
}

type leanVariation struct {
	ID             string        `json:"id"`
	Key            string        `json:"key"`
	FeatureEnabled bool          `json:"featureEnabled,omitempty"`
	Variables      []genVarValue `json:"variables,omitempty"`
}

type leanGroup struct {
	ID                string            `json:"id"`
	Policy            string            `json:"policy"`
	TrafficAllocation []genRange        `json:"trafficAllocation"`
	Experiments       []*leanExperiment `json:"experiments"`
}

type leanRollout struct {
	ID          string            `json:"id"`
	Experiments []*leanExperiment `json:"experiments"`
}

func largeProject(experiments int) *leanDatafile {
	next := 21000000
	id := func() string { next++; return strconv.Itoa(next) }
	df := &leanDatafile{Version: "4", AccountID: "10000001", ProjectID: "10000002", Revision: "1042"}
	attrs := []string{"country", "plan", "age", "beta", "app_version", "device", "language", "visits"}
	for _, k := range attrs {
		df.Attributes = append(df.Attributes, genAttribute{ID: id(), Key: k})
	}
	var audiences []string
	for i := range 400 {
		aid := id()
		leaf := func(name, match string, value any) []any {
			return []any{"or", map[string]any{"type": "custom_attribute", "name": name, "match": match, "value": value}}
		}
		conditions := []any{"and",
			[]any{"or", leaf("country", "exact", []string{"us", "uk", "fr", "de"}[i%4]), leaf("language", "substring", "en")},
			leaf("age", "ge", 18+i%30),
		}
		if i%3 == 0 {
			conditions = append(conditions, leaf("app_version", "semver_ge", fmt.Sprintf("1.%d.0", i%10)))
		}
		name := fmt.Sprintf("audience %d", i)
		df.TypedAudiences = append(df.TypedAudiences, genAudience{ID: aid, Name: name, Conditions: conditions})
		df.Audiences = append(df.Audiences, genAudience{ID: aid, Name: name, Conditions: mustJSONString(
			[]any{"or", map[string]any{"type": "custom_attribute", "name": "$opt_dummy_attribute", "value": "$opt_dummy_value"}})})
		audiences = append(audiences, aid)
	}
	experiment := func(n int, layer string) *leanExperiment {
		e := &leanExperiment{ID: id(), Key: fmt.Sprintf("exp_%d", n), LayerID: layer, Status: "Running"}
		if n%7 == 0 {
			e.Status = "Paused"
		}
		nVar := 2
		if n%3 == 0 {
			nVar = 3
		}
		for v := range nVar {
			e.Variations = append(e.Variations, &leanVariation{ID: id(), Key: []string{"off", "on", "on_b"}[v]})
			e.TrafficAllocation = append(e.TrafficAllocation, genRange{EntityID: e.Variations[v].ID, EndOfRange: 10000 * (v + 1) / nVar})
		}
		switch n % 4 {
		case 1:
			e.AudienceIDs = []string{audiences[n%len(audiences)]}
		case 2:
			a, b := audiences[n%len(audiences)], audiences[(n/3)%len(audiences)]
			e.AudienceIDs = []string{a, b}
			e.AudienceConditions = []any{"and", a, b}
		}
		if n%12 == 3 {
			a, b := audiences[n%len(audiences)], audiences[(n/5)%len(audiences)]
			e.AudienceIDs = []string{a, b}
			e.AudienceConditions = []any{"or", a, []any{"not", b}}
		}
		if n%50 == 0 {
			e.ForcedVariations = map[string]string{fmt.Sprintf("qa-user-%d", n): e.Variations[0].Key}
		}
		return e
	}
	var all []*leanExperiment
	for g := range experiments / 10 / 200 {
		grp := &leanGroup{ID: id(), Policy: "random"}
		for m := range 200 {
			e := experiment(g*200+m, grp.ID)
			grp.Experiments = append(grp.Experiments, e)
			grp.TrafficAllocation = append(grp.TrafficAllocation, genRange{EntityID: e.ID, EndOfRange: 10000 * (m + 1) / 200})
			all = append(all, e)
		}
		df.Groups = append(df.Groups, grp)
	}
	for n := len(all); n < experiments; n++ {
		e := experiment(n, "")
		df.Experiments = append(df.Experiments, e)
		all = append(all, e)
	}
	for i := 0; i < len(all); i += 40 {
		e := all[i]
		f := &genFlag{ID: id(), Key: fmt.Sprintf("flag_%d", i/40), ExperimentIDs: []string{e.ID}, Variables: []genVariable{
			{ID: id(), Key: "enabled", Type: "boolean", DefaultValue: "false"},
			{ID: id(), Key: "limit", Type: "integer", DefaultValue: "10"},
			{ID: id(), Key: "title", Type: "string", DefaultValue: "Welcome"},
		}}
		for n, v := range e.Variations {
			v.FeatureEnabled = n > 0
			v.Variables = []genVarValue{
				{ID: f.Variables[0].ID, Value: "true"},
				{ID: f.Variables[1].ID, Value: strconv.Itoa(10 + n)},
				{ID: f.Variables[2].ID, Value: fmt.Sprintf("Hello %d", n)},
			}
		}
		r := &leanRollout{ID: id()}
		rule := func(key string, audienceIDs []string, end int) *leanExperiment {
			x := &leanExperiment{ID: id(), Key: key, LayerID: r.ID, Status: "Running", AudienceIDs: audienceIDs}
			v := &leanVariation{ID: id(), Key: "on", FeatureEnabled: true, Variables: []genVarValue{{ID: f.Variables[0].ID, Value: "true"}}}
			x.Variations = []*leanVariation{v}
			x.TrafficAllocation = []genRange{{EntityID: v.ID, EndOfRange: end}}
			return x
		}
		r.Experiments = []*leanExperiment{
			rule(f.Key+"_targeted", []string{audiences[i%len(audiences)]}, 5000),
			rule(f.Key+"_everyone_else", nil, 1000),
		}
		f.RolloutID = r.ID
		df.Rollouts = append(df.Rollouts, r)
		df.FeatureFlags = append(df.FeatureFlags, f)
	}
	return df
}
