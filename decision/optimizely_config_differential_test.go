package decision_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	sdkconfig "github.com/optimizely/go-sdk/v2/pkg/config"
	"github.com/optimizely/go-sdk/v2/pkg/config/datafileprojectconfig"
	"github.com/optimizely/go-sdk/v2/pkg/logging"

	"github.com/stickybucket/stickybucket/decision"
)

// TestOptimizelyConfigMatchesTheOfficialSDK builds the OptimizelyConfig
// of every datafile the project keeps (decision/testdata, examples/, the
// clients' generated sticky fixtures), of generated datafiles and of
// datafiles written for the audiences' text, with decision and with the
// official Go SDK (config.NewOptimizelyConfig, what Agent's /v1/config
// serves), and requires the two to be equal as JSON. Two things the SDK
// leaves to Go's map order are compared for what they are: the order of
// attributes, audiences and events (sorted on both sides), and which
// experiment an experiment key shared by several experiments names in
// experimentsMap (the SDK's must be one of them, ours the first).
func TestOptimizelyConfigMatchesTheOfficialSDK(t *testing.T) {
	type datafile struct {
		name string
		raw  []byte
	}
	var dfs []datafile
	for _, pattern := range []string{"testdata/*.json", "testdata/bench/*.json", "../examples/*.json"} {
		paths, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range paths {
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dfs = append(dfs, datafile{p, raw})
		}
	}
	for _, pattern := range []string{"testdata/differential/*.json", "../clients/testdata/sticky/seed-*.json"} {
		paths, err := filepath.Glob(pattern)
		if err != nil || len(paths) == 0 {
			t.Fatalf("%s: %v %v", pattern, paths, err)
		}
		for _, p := range paths {
			var fx map[string]json.RawMessage
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &fx); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			for _, field := range []string{"datafile", "mutated", "datafile_v1", "datafile_v2"} {
				if b, ok := fx[field]; ok {
					dfs = append(dfs, datafile{p + ":" + field, b})
				}
			}
		}
	}
	for seed := uint64(1); seed <= 40; seed++ {
		g := newGen(seed)
		df := g.datafile()
		mutated, _ := g.mutate(df)
		dfs = append(dfs, datafile{fmt.Sprintf("generated seed %d", seed), df.marshal()},
			datafile{fmt.Sprintf("generated seed %d, mutated", seed), mutated.marshal()})
	}
	dfs = append(dfs, datafile{"audience texts", audienceTextDatafile(t)})

	logging.SetLogLevel(logging.LogLevelError) // not "Datafile is valid." per datafile
	var experiments, audienceTexts, values int
	for _, df := range dfs {
		// Each datafile is one decision accepts: /v1/config only serves those.
		if _, err := decision.ParseDatafile(df.raw); err != nil {
			t.Errorf("%s: ParseDatafile: %v", df.name, err)
			continue
		}
		ours, err := decision.NewOptimizelyConfig(df.raw)
		if err != nil {
			t.Errorf("%s: %v", df.name, err)
			continue
		}
		pc, err := datafileprojectconfig.NewDatafileProjectConfig(df.raw, logging.GetLogger("", "diff"))
		if err != nil {
			t.Errorf("%s: the official SDK refuses it: %v", df.name, err)
			continue
		}
		theirs := sdkconfig.NewOptimizelyConfig(pc)
		a, b := asJSON(t, ours), asJSON(t, theirs)
		if !sharedExperimentsAgree(t, df.name, df.raw, a, b) || !sharedKeysAgree(t, df.name, a, b) {
			continue
		}
		sortLists(a)
		sortLists(b)
		if diffs := jsonDiff("", a, b, nil); len(diffs) > 0 {
			t.Errorf("%s: %d differences from the official SDK's OptimizelyConfig (ours, then the SDK's):\n%s",
				df.name, len(diffs), strings.Join(diffs[:min(len(diffs), 12)], "\n"))
		}
		experiments += len(ours.ExperimentsMap)
		for _, f := range ours.FeaturesMap {
			for _, e := range slices.Concat(f.ExperimentRules, f.DeliveryRules) {
				if e.Audiences != "" {
					audienceTexts++
				}
				for _, v := range e.VariationsMap {
					values += len(v.VariablesMap)
				}
			}
		}
	}
	t.Logf("%d datafiles: %d experiments, %d rules with audiences, %d variable values in rules, equal to the official SDK's",
		len(dfs), experiments, audienceTexts, values)
	if audienceTexts < 100 || values < 1000 {
		t.Errorf("the datafiles exercised too little: %d audience texts, %d variable values", audienceTexts, values)
	}
}

// audienceTextDatafile is a datafile whose experiments' audienceConditions
// take the forms the SDK writes out that the parser accepts (it refuses
// operators after the first item, items that are neither an ID nor a
// list, and unknown audience IDs): no operator, nested lists (empty ones
// too), "not" before an audience and before a list, typed audiences
// shadowing legacy ones, the dummy audience, names that need quoting; and
// a variation setting a variable no flag has.
func audienceTextDatafile(t *testing.T) []byte {
	t.Helper()
	auds := []map[string]any{
		{"id": "a1", "name": "us", "conditions": `["or", {"type": "custom_attribute", "name": "country", "value": "us"}]`},
		{"id": "a2", "name": `say "hi" \ ünïcode`, "conditions": `["and", {"type": "custom_attribute", "name": "n", "match": "gt", "value": 1}]`},
		{"id": "a3", "name": "shadowed", "conditions": `["or", {"type": "custom_attribute", "name": "$opt_dummy", "value": "x"}]`},
		{"id": "$opt_dummy_audience", "name": "Optimizely-Generated Audience for Backwards Compatibility", "conditions": `["or", {"match": "exact", "name": "$opt_dummy_attribute", "type": "custom_attribute", "value": "$opt_dummy_value"}]`},
	}
	typed := []map[string]any{
		{"id": "a3", "name": "typed <&>", "conditions": []any{"and", []any{"or", map[string]any{"type": "custom_attribute", "name": "v", "match": "semver_ge", "value": "1.2.3"}}, map[string]any{"type": "custom_attribute", "name": "x", "match": "le", "value": 1e21}}},
		{"id": "a4", "name": "numbers", "conditions": map[string]any{"type": "custom_attribute", "name": "n", "match": "exact", "value": 0.000001}},
	}
	conditions := []any{
		[]any{"or", "a1"},
		[]any{"and", "a1", "a2"},
		[]any{"a1", "a2"},
		[]any{"not", "a1"},
		[]any{"not", []any{"or", "a1", "a2"}},
		[]any{"and", "a1", []any{"not", "a2"}, []any{"or", "a3", "a4"}},
		[]any{"or", []any{"and", "a1", "a2"}, "a3"},
		[]any{"and", []any{}, "a1"},
		[]any{"or", []any{"or", []any{"or", "a4"}}},
		[]any{"not", "$opt_dummy_audience"},
		[]any{},
		"a1",
	}
	var exps []map[string]any
	var ids []string
	for i, c := range conditions {
		id := fmt.Sprintf("9%03d", i)
		ids = append(ids, id)
		exps = append(exps, map[string]any{
			"id": id, "key": fmt.Sprintf("exp_%d", i), "layerId": "L" + id, "status": "Running",
			"audienceIds": []string{"a1"}, "audienceConditions": c, "forcedVariations": map[string]any{},
			"variations": []map[string]any{{"id": id + "1", "key": "on", "featureEnabled": true,
				"variables": []map[string]any{{"id": "v1", "value": "7"}, {"id": "v-gone", "value": "x"}}}},
			"trafficAllocation": []map[string]any{{"entityId": id + "1", "endOfRange": 10000}},
		})
	}
	// An experiment without audienceConditions is written from nothing,
	// even with audienceIds (the SDK reads audienceConditions alone).
	exps = append(exps, map[string]any{
		"id": "9999", "key": "ids_only", "layerId": "L9999", "status": "Running", "audienceIds": []string{"a1", "a2"},
		"forcedVariations": map[string]any{}, "variations": []map[string]any{{"id": "99991", "key": "v", "featureEnabled": false, "variables": []any{}}},
		"trafficAllocation": []map[string]any{{"entityId": "99991", "endOfRange": 10000}},
	})
	df := map[string]any{
		"version": "4", "accountId": "1", "projectId": "2", "revision": "3", "environmentKey": "staging", "sdkKey": "texts",
		"attributes": []map[string]any{{"id": "at1", "key": "country"}, {"id": "at2", "key": "n"}},
		"audiences":  auds, "typedAudiences": typed,
		"experiments": exps, "groups": []any{},
		"events": []map[string]any{{"id": "e1", "key": "buy", "experimentIds": []string{"9000"}}, {"id": "e2", "key": "nothing"}},
		"featureFlags": []map[string]any{{
			"id": "f1", "key": "flag", "rolloutId": "", "experimentIds": ids,
			"variables": []map[string]any{{"id": "v1", "key": "count", "type": "integer", "defaultValue": "1"},
				{"id": "v2", "key": "doc", "type": "string", "subType": "json", "defaultValue": `{"a": 1.50}`}},
		}},
		"rollouts": []any{},
	}
	b, err := json.Marshal(df)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func asJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// sharedExperimentsAgree checks the variations of experiments several
// flags list. The SDK shows the variables of one of the flags, picked in
// map order; ours must be the SDK's for the first flag, and the SDK's one
// of its own for some flag: each is found by the SDK on a copy of the
// datafile where that flag alone lists the experiment. The variations of
// those experiments are then removed from both sides.
func sharedExperimentsAgree(t *testing.T, name string, raw []byte, ours, theirs map[string]any) bool {
	t.Helper()
	var df map[string]any
	if err := json.Unmarshal(raw, &df); err != nil {
		t.Fatal(err)
	}
	flags, _ := df["featureFlags"].([]any)
	listedBy := map[string][]int{}
	for i, f := range flags {
		for _, id := range f.(map[string]any)["experimentIds"].([]any) {
			if l := listedBy[id.(string)]; len(l) == 0 || l[len(l)-1] != i {
				listedBy[id.(string)] = append(l, i)
			}
		}
	}
	ok := true
	for id, by := range listedBy {
		if len(by) < 2 {
			continue
		}
		var candidates []any
		for _, keep := range by {
			var only map[string]any
			_ = json.Unmarshal(raw, &only)
			for i, f := range only["featureFlags"].([]any) {
				if i != keep {
					fm := f.(map[string]any)
					fm["experimentIds"] = slices.DeleteFunc(fm["experimentIds"].([]any), func(x any) bool { return x == id })
				}
			}
			b, _ := json.Marshal(only)
			pc, err := datafileprojectconfig.NewDatafileProjectConfig(b, logging.GetLogger("", "diff"))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			candidates = append(candidates, variationsOf(asJSON(t, sdkconfig.NewOptimizelyConfig(pc)), id))
		}
		if got := variationsOf(ours, id); !reflect.DeepEqual(got, candidates[0]) {
			t.Errorf("%s: experiment %s, shared by %d flags: our variations %s, the SDK's for the first flag %s", name, id, len(by), brief(got), brief(candidates[0]))
			ok = false
		}
		if got := variationsOf(theirs, id); !slices.ContainsFunc(candidates, func(c any) bool { return reflect.DeepEqual(c, got) }) {
			t.Errorf("%s: experiment %s, shared by %d flags: the SDK's variations %s are those of none of them", name, id, len(by), brief(got))
			ok = false
		}
		for _, m := range []map[string]any{ours, theirs} {
			eachExperiment(m, func(e map[string]any) {
				if e["id"] == id {
					delete(e, "variationsMap")
				}
			})
		}
	}
	return ok
}

// eachExperiment calls fn on every experiment and rule of a decoded config.
func eachExperiment(m map[string]any, fn func(map[string]any)) {
	for _, e := range m["experimentsMap"].(map[string]any) {
		fn(e.(map[string]any))
	}
	for _, f := range m["featuresMap"].(map[string]any) {
		fm := f.(map[string]any)
		for _, list := range []string{"experimentRules", "deliveryRules"} {
			for _, e := range fm[list].([]any) {
				fn(e.(map[string]any))
			}
		}
		for _, e := range fm["experimentsMap"].(map[string]any) {
			fn(e.(map[string]any))
		}
	}
}

// variationsOf is the variationsMap of experiment id in a decoded config.
func variationsOf(m map[string]any, id string) any {
	var out any
	eachExperiment(m, func(e map[string]any) {
		if e["id"] == id && out == nil {
			out = e["variationsMap"]
		}
	})
	return out
}

// sharedKeysAgree checks the experimentsMap entries of keys several
// experiments share: ours must be the first such experiment in the
// datafile (it is the first in its flag's rules here), the SDK's any of
// them. Both are then removed, so the rest compares as a whole.
func sharedKeysAgree(t *testing.T, name string, ours, theirs map[string]any) bool {
	t.Helper()
	byKey := map[string][]any{}
	seen := map[string]bool{}
	for _, f := range ours["featuresMap"].(map[string]any) {
		for _, r := range f.(map[string]any)["experimentRules"].([]any) {
			e := r.(map[string]any)
			id := e["id"].(string)
			if !seen[id] {
				seen[id] = true
				byKey[e["key"].(string)] = append(byKey[e["key"].(string)], r)
			}
		}
	}
	ok := true
	for key, candidates := range byKey {
		if len(candidates) < 2 {
			continue
		}
		for side, m := range map[string]map[string]any{"ours": ours, "the SDK's": theirs} {
			got := m["experimentsMap"].(map[string]any)[key]
			if !slices.ContainsFunc(candidates, func(c any) bool { return reflect.DeepEqual(c, got) }) {
				t.Errorf("%s: experimentsMap[%q] (%s) is none of the %d experiments keyed so", name, key, side, len(candidates))
				ok = false
			}
			delete(m["experimentsMap"].(map[string]any), key)
		}
	}
	return ok
}

// sortLists orders attributes, audiences and events by ID (the SDK lists
// them in map order).
func sortLists(m map[string]any) {
	for _, k := range []string{"attributes", "audiences", "events"} {
		l, _ := m[k].([]any)
		sort.Slice(l, func(i, j int) bool {
			a, b := l[i].(map[string]any), l[j].(map[string]any)
			return fmt.Sprint(a["id"], "\x00", a["key"]) < fmt.Sprint(b["id"], "\x00", b["key"])
		})
	}
}

// jsonDiff lists the paths where decoded JSON values a and b differ.
func jsonDiff(path string, a, b any, out []string) []string {
	if len(out) > 50 {
		return out
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			return append(out, fmt.Sprintf("%s: %s vs %s", path, brief(a), brief(b)))
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range keys {
				if !yield(k) {
					return
				}
			}
		}) {
			out = jsonDiff(path+"."+k, x[k], y[k], out)
		}
		return out
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return append(out, fmt.Sprintf("%s: %s vs %s", path, brief(a), brief(b)))
		}
		for i := range x {
			out = jsonDiff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i], out)
		}
		return out
	}
	if !reflect.DeepEqual(a, b) {
		out = append(out, fmt.Sprintf("%s: %s vs %s", path, brief(a), brief(b)))
	}
	return out
}

func brief(v any) string {
	b, _ := json.Marshal(v)
	s := string(b)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// TestOptimizelyConfigTooLarge: a datafile asking for more variable
// values than MaxOptimizelyConfigValues (one flag of 2,000 variables, an
// experiment of 600 variations) is refused with ErrOptimizelyConfigTooLarge
// instead of being built.
func TestOptimizelyConfigTooLarge(t *testing.T) {
	var vars, variations []map[string]any
	for i := range 2000 {
		vars = append(vars, map[string]any{"id": fmt.Sprintf("v%d", i), "key": fmt.Sprintf("k%d", i), "type": "string", "defaultValue": ""})
	}
	for i := range 600 {
		variations = append(variations, map[string]any{"id": fmt.Sprintf("x%d", i), "key": fmt.Sprintf("x%d", i), "featureEnabled": true})
	}
	raw, err := json.Marshal(map[string]any{
		"version": "4", "revision": "1",
		"experiments": []any{map[string]any{"id": "e", "key": "e", "status": "Running", "variations": variations,
			"trafficAllocation": []any{map[string]any{"entityId": "x0", "endOfRange": 10000}}}},
		"featureFlags": []any{map[string]any{"id": "f", "key": "f", "experimentIds": []string{"e"}, "variables": vars}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decision.ParseDatafile(raw); err != nil {
		t.Fatalf("the datafile should be valid: %v", err)
	}
	_, err = decision.NewOptimizelyConfig(raw)
	if !errors.Is(err, decision.ErrOptimizelyConfigTooLarge) {
		t.Fatalf("err = %v, want ErrOptimizelyConfigTooLarge", err)
	}
	t.Log(err)
}
