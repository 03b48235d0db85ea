package events_test

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// diffDatafile is one datafile both sides decide, and the users and keys
// the requests are made of.
type diffDatafile struct {
	key string // the SDK key on serve, and the prefix of its users' IDs
	raw []byte
	// noBotFiltering: the datafile does not set botFiltering (the Go SDK
	// then sends $opt_bot_filtering false; serve sends nothing).
	noBotFiltering             bool
	flags, experiments, events []string
	// flagRules and flagVariations list, per flag, the keys of its
	// experiments and delivery rules and of their variations, for forced
	// decisions.
	flagRules, flagVariations map[string][]string
	candidates                map[string][]any // attribute → values its audiences compare with
	users                     []diffUser
}

type diffUser struct {
	id    string
	attrs map[string]any
}

// diffDatafiles are the sample datafiles (examples/, Optimizely's own
// decide and typed-audience fixtures) and the generated ones of
// clients/testdata/sticky (a datafile and its changed revision each),
// with events added where they have none.
func diffDatafiles(t *testing.T) []*diffDatafile {
	t.Helper()
	var out []*diffDatafile
	add := func(key string, df map[string]any, users []diffUser) {
		if evs, _ := df["events"].([]any); len(evs) == 0 {
			df["events"] = []any{
				map[string]any{"id": "ev-1-" + key, "key": "purchase", "experimentIds": []any{}},
				map[string]any{"id": "ev-2-" + key, "key": "signup", "experimentIds": []any{}},
			}
		}
		raw, err := json.Marshal(df)
		if err != nil {
			t.Fatal(err)
		}
		d := &diffDatafile{key: key, raw: raw, candidates: conditionValues(df)}
		_, bot := df["botFiltering"]
		d.noBotFiltering = !bot
		d.flags = keysOf(df["featureFlags"])
		d.experiments = keysOf(df["experiments"])
		for _, g := range asList(df["groups"]) {
			d.experiments = append(d.experiments, keysOf(g.(map[string]any)["experiments"])...)
		}
		d.events = keysOf(df["events"])
		d.flagRules, d.flagVariations = flagRulesOf(df)
		rng := rand.New(rand.NewPCG(seedOf(key), 1))
		if users == nil {
			for i := range 40 {
				users = append(users, diffUser{id: fmt.Sprintf("user-%d", i), attrs: d.randomAttributes(rng)})
			}
		}
		for _, u := range users {
			d.users = append(d.users, diffUser{id: key + "/" + u.id, attrs: u.attrs})
		}
		out = append(out, d)
	}
	v1 := readJSON(t, "../examples/datafile-v1.json")
	add("sample-v1", v1, nil)
	v2 := readJSON(t, "../examples/datafile-v2.json")
	v2["sendFlagDecisions"] = true
	add("sample-v2", v2, nil)
	nobot := readJSON(t, "../examples/datafile-v1.json")
	delete(nobot, "botFiltering")
	nobot["revision"] = "1-nobot"
	add("sample-nobot", nobot, nil)
	add("decide-test", readJSON(t, "../decision/testdata/decide-test-datafile.json"), nil)
	add("typed-audience", readJSON(t, "../decision/testdata/typed_audience_datafile.json"), nil)

	paths, err := filepath.Glob("../clients/testdata/sticky/seed-*.json")
	if err != nil || len(paths) == 0 {
		t.Fatalf("generated datafiles: %v %v", paths, err)
	}
	for _, p := range paths {
		fx := readJSON(t, p)
		var users []diffUser
		for _, u := range asList(fx["users"]) {
			um := u.(map[string]any)
			attrs, _ := um["attributes"].(map[string]any)
			users = append(users, diffUser{id: um["user_id"].(string), attrs: attrs})
		}
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		add(name+"-v1", fx["datafile_v1"].(map[string]any), users)
		add(name+"-v2", fx["datafile_v2"].(map[string]any), users)
	}
	return out
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func asList(v any) []any { l, _ := v.([]any); return l }

// keysOf returns the keys of a datafile list, each once.
// flagRulesOf returns, per flag of df, the keys of its experiments and
// delivery rules and those of their variations.
func flagRulesOf(df map[string]any) (rules, variations map[string][]string) {
	byID := map[string]map[string]any{}
	exps := asList(df["experiments"])
	for _, g := range asList(df["groups"]) {
		exps = append(exps, asList(g.(map[string]any)["experiments"])...)
	}
	for _, e := range exps {
		m := e.(map[string]any)
		byID[fmt.Sprint(m["id"])] = m
	}
	rollouts := map[string][]any{}
	for _, r := range asList(df["rollouts"]) {
		m := r.(map[string]any)
		rollouts[fmt.Sprint(m["id"])] = asList(m["experiments"])
	}
	rules, variations = map[string][]string{}, map[string][]string{}
	for _, f := range asList(df["featureFlags"]) {
		m := f.(map[string]any)
		key := fmt.Sprint(m["key"])
		var list []any
		for _, id := range asList(m["experimentIds"]) {
			if e := byID[fmt.Sprint(id)]; e != nil {
				list = append(list, e)
			}
		}
		list = append(list, rollouts[fmt.Sprint(m["rolloutId"])]...)
		rules[key] = keysOf(list)
		for _, r := range list {
			variations[key] = append(variations[key], keysOf(r.(map[string]any)["variations"])...)
		}
	}
	return rules, variations
}

func keysOf(list any) []string {
	var keys []string
	for _, e := range asList(list) {
		if k, ok := e.(map[string]any)["key"].(string); ok && !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// conditionValues collects, per attribute, the values the datafile's
// audiences compare it with, so generated users match some audiences.
func conditionValues(df map[string]any) map[string][]any {
	out := map[string][]any{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			var tree any
			if json.Unmarshal([]byte(x), &tree) == nil {
				if _, isString := tree.(string); !isString {
					walk(tree)
				}
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if name, ok := x["name"].(string); ok && x["type"] == "custom_attribute" {
				if val, ok := x["value"]; ok && val != nil {
					out[name] = append(out[name], val)
				}
				return
			}
			for _, e := range x {
				walk(e)
			}
		}
	}
	for _, list := range []string{"audiences", "typedAudiences"} {
		for _, a := range asList(df[list]) {
			walk(a.(map[string]any)["conditions"])
		}
	}
	return out
}

// randomAttributes gives a user values its datafile's audiences test,
// and others.
func (d *diffDatafile) randomAttributes(rng *rand.Rand) map[string]any {
	attrs := map[string]any{}
	names := make([]string, 0, len(d.candidates))
	for n := range d.candidates {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if rng.IntN(4) == 0 {
			continue
		}
		vals := d.candidates[n]
		switch v := vals[rng.IntN(len(vals))].(type) {
		case float64:
			attrs[n] = v + float64(rng.IntN(3)-1)
		default:
			attrs[n] = v
		}
	}
	return attrs
}

// extraAttributes adds what events filter: an attribute the datafile
// does not declare, $opt_ attributes, values that are not sent.
func extraAttributes(rng *rand.Rand, attrs map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range attrs {
		out[k] = v
	}
	if rng.IntN(3) == 0 {
		out["favourite_colour"] = "blue"
	}
	if rng.IntN(4) == 0 {
		out["$opt_user_agent"] = "Mozilla/5.0"
	}
	if rng.IntN(6) == 0 {
		out["$opt_bucketing_id"] = fmt.Sprintf("bucket-%d", rng.IntN(100))
	}
	if rng.IntN(5) == 0 {
		out["nested"] = map[string]any{"a": 1.0}
	}
	if rng.IntN(5) == 0 {
		out["listed"] = []any{"x"}
	}
	return out
}

// randomTags are a track's eventTags, as JSON: revenue and value of
// every JSON type, other tags, none at all, or an empty object.
func randomTags(rng *rand.Rand) string {
	switch rng.IntN(6) {
	case 0:
		return ""
	case 1:
		return `{}`
	}
	var parts []string
	switch rng.IntN(6) {
	case 0:
		parts = append(parts, fmt.Sprintf(`"revenue":%d`, rng.IntN(100000)))
	case 1:
		parts = append(parts, fmt.Sprintf(`"revenue":%d.%d`, rng.IntN(1000), rng.IntN(100)))
	case 2:
		parts = append(parts, `"revenue":"4200"`)
	case 3:
		parts = append(parts, `"revenue":true`)
	case 4:
		parts = append(parts, fmt.Sprintf(`"revenue":-%d`, rng.IntN(500)))
	}
	switch rng.IntN(5) {
	case 0:
		parts = append(parts, fmt.Sprintf(`"value":%d.%d`, rng.IntN(100), rng.IntN(1000)))
	case 1:
		parts = append(parts, fmt.Sprintf(`"value":%d`, rng.IntN(100)))
	case 2:
		parts = append(parts, `"value":"3.5"`)
	case 3:
		parts = append(parts, `"value":null`)
	}
	if rng.IntN(2) == 0 {
		parts = append(parts, `"category":"shoes"`, `"count":3`)
	}
	if rng.IntN(4) == 0 {
		parts = append(parts, `"details":{"size":42,"colors":["red"]}`)
	}
	return "{" + strings.Join(parts, ",") + "}"
}
