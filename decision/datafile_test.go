package decision

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

// stickyWith returns testdata/sticky.json after change edits its decoded
// form.
func stickyWith(t testing.TB, change func(df map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/sticky.json")
	if err != nil {
		t.Fatal(err)
	}
	var df map[string]any
	if err := json.Unmarshal(b, &df); err != nil {
		t.Fatal(err)
	}
	change(df)
	out, err := json.Marshal(df)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// at walks a decoded datafile: at(df, "experiments", 0, "trafficAllocation").
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v
}

func obj(v any, path ...any) map[string]any { return at(v, path...).(map[string]any) }

func TestParseDatafileErrors(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte(`{"version": "4",`), "not valid JSON at byte"},
		{"not an object", []byte(`[1, 2]`), "top level: got a JSON array, want an object"},
		{"field of the wrong type", []byte(`{"version": "4", "experiments": "none"}`), "experiments: got a JSON string, want a list"},
		{"nested field of the wrong type", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 0, "trafficAllocation", 0)["endOfRange"] = "all"
		}), "experiments[0].trafficAllocation[0].endOfRange: got a JSON string, want an integer"},
		{"version", stickyWith(t, func(df map[string]any) { df["version"] = "3" }),
			`version "3": only version 4 is supported`},
		{"traffic to a missing variation", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 2, "trafficAllocation", 0)["entityId"] = "123"
		}), `experiments[2] "exp_whitelist": trafficAllocation[0]: unknown variation "123"`},
		{"endOfRange out of range", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 0, "trafficAllocation", 0)["endOfRange"] = 10001
		}), `experiments[0] "exp_us": trafficAllocation[0]: endOfRange 10001 is outside [0, 10000]`},
		{"flag with a missing rollout", stickyWith(t, func(df map[string]any) {
			obj(df, "featureFlags", 0)["rolloutId"] = "424242"
		}), `featureFlags[0] "flag_full": rolloutId: unknown rollout "424242"`},
		{"flag with a missing experiment", stickyWith(t, func(df map[string]any) {
			obj(df, "featureFlags", 0)["experimentIds"] = []any{"1100", "404"}
		}), `featureFlags[0] "flag_full": experimentIds[1]: unknown experiment "404"`},
		{"experiment with a missing audience", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 0)["audienceIds"] = []any{"999"}
		}), `experiments[0] "exp_us": audienceIds[0]: unknown audience "999"`},
		{"audienceConditions with a missing audience", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 3)["audienceConditions"] = []any{"and", "103", []any{"not", "999"}}
		}), `experiments[3] "exp_not_and": audienceConditions[2][1]: unknown audience "999"`},
		{"group traffic to an experiment outside the group", stickyWith(t, func(df map[string]any) {
			obj(df, "groups", 0, "trafficAllocation", 0)["entityId"] = "1000"
		}), `groups[0] "5000": trafficAllocation[0]: unknown experiment of this group "1000"`},
		{"rule traffic to a missing variation", stickyWith(t, func(df map[string]any) {
			obj(df, "rollouts", 0, "experiments", 1, "trafficAllocation", 0)["entityId"] = "1"
		}), `rollouts[0] "3000": experiments[1] "rule_adults": trafficAllocation[0]: unknown variation "1"`},
		{"rule with a missing audience", stickyWith(t, func(df map[string]any) {
			obj(df, "rollouts", 0, "experiments", 0)["audienceIds"] = []any{"105", "77"}
		}), `rollouts[0] "3000": experiments[0] "rule_fr_dark": audienceIds[1]: unknown audience "77"`},
		{"group member with a bad allocation", stickyWith(t, func(df map[string]any) {
			obj(df, "groups", 0, "experiments", 1, "trafficAllocation", 0)["entityId"] = "9"
		}), `groups[0] "5000": experiments[1] "exp_group_out": trafficAllocation[0]: unknown variation "9"`},
		{"duplicate experiment ID", stickyWith(t, func(df map[string]any) {
			obj(df, "groups", 0, "experiments", 0)["id"] = "1000"
		}), `groups[0] "5000": experiments[0] "exp_group_in": duplicate experiment ID "1000" (first at experiments[0] "exp_us")`},
		{"empty experiment key", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 0)["key"] = ""
		}), `experiments[0] "": empty experiment key`},
		{"duplicate flag key", stickyWith(t, func(df map[string]any) {
			obj(df, "featureFlags", 1)["key"] = "flag_full"
		}), `featureFlags[1] "flag_full": duplicate flag key "flag_full"`},
		{"duplicate variation key", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 0, "variations", 1)["key"] = "a"
		}), `experiments[0] "exp_us": variations[1] "a": duplicate variation key "a"`},
		{"empty variation ID", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 0, "variations", 1)["id"] = ""
		}), `experiments[0] "exp_us": variations[1] "b": empty variation ID`},
		{"bad variable default", stickyWith(t, func(df map[string]any) {
			obj(df, "featureFlags", 0, "variables", 1)["defaultValue"] = "ten"
		}), `featureFlags[0] "flag_full": variables[1] "max_items": defaultValue (integer): value "ten" is not an integer`},
		{"bad variation value", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 5, "variations", 0, "variables", 2)["value"] = "lots"
		}), `featureFlags[0] "flag_full": experiment "exp_feature": variation "on": variable "discount" (double): value "lots" is not a double`},
		{"bad rule variation value", stickyWith(t, func(df map[string]any) {
			obj(df, "rollouts", 0, "experiments", 1, "variations", 0, "variables", 1)["value"] = "2.5"
		}), `featureFlags[0] "flag_full": rule "rule_adults": variation "adult_on": variable "max_items" (integer): value "2.5" is not an integer`},
		{"bad JSON variable", stickyWith(t, func(df map[string]any) {
			obj(df, "featureFlags", 0, "variables", 4)["defaultValue"] = "{size: 1}"
		}), `variables[4] "settings": defaultValue (json): value "{size: 1}" is not JSON`},
		{"duplicate variable key", stickyWith(t, func(df map[string]any) {
			obj(df, "featureFlags", 0, "variables", 1)["key"] = "banner"
		}), `featureFlags[0] "flag_full": variables[1] "banner": duplicate variable key "banner"`},
		{"typed audience that is not a condition", stickyWith(t, func(df map[string]any) {
			obj(df, "typedAudiences", 1)["conditions"] = []any{"and", 18.0}
		}), `typedAudiences[1] "102": conditions[1]: want a condition or a list, got a number`},
		{"legacy audience that is not JSON", stickyWith(t, func(df map[string]any) {
			obj(df, "audiences", 1)["conditions"] = `["and", {"name": "country"`
		}), `audiences[1] "104": conditions: not valid JSON`},
		{"duplicate audience ID in one list", stickyWith(t, func(df map[string]any) {
			obj(df, "typedAudiences", 1)["id"] = "101"
		}), `typedAudiences[1] "101": duplicate audience ID "101"`},
		{"audienceConditions of the wrong shape", stickyWith(t, func(df map[string]any) {
			obj(df, "experiments", 3)["audienceConditions"] = map[string]any{"and": []any{"103"}}
		}), `experiments[3] "exp_not_and": audienceConditions: want a list of audience IDs, got an object`},
		{"duplicate rollout ID", stickyWith(t, func(df map[string]any) {
			obj(df, "rollouts", 1)["id"] = "3000"
		}), `rollouts[1] "3000": duplicate rollout ID "3000"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDatafile(tc.data)
			if err == nil {
				t.Fatalf("no error (datafile %v)", d != nil)
			}
			if d != nil {
				t.Error("a Datafile was returned with the error")
			}
			var de *DatafileError
			if !errors.As(err, &de) {
				t.Errorf("error %T is not a *DatafileError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %v\nwant it to contain\n  %s", err, tc.want)
			}
		})
	}
}

func TestParseDatafileListsEveryProblem(t *testing.T) {
	data := stickyWith(t, func(df map[string]any) {
		for i := range 12 {
			e := obj(df, "experiments", i%7)
			e["trafficAllocation"] = append(e["trafficAllocation"].([]any), map[string]any{"entityId": "x", "endOfRange": 10000})
		}
	})
	_, err := ParseDatafile(data)
	var de *DatafileError
	if !errors.As(err, &de) || len(de.Problems) != 12 {
		t.Fatalf("got %v", err)
	}
	if !strings.HasSuffix(err.Error(), "; and 2 more") {
		t.Errorf("message not capped: %v", err)
	}
}

func TestFixturesLoad(t *testing.T) {
	files, err := filepath.Glob("testdata/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("fixtures: %q", files)
	}
	for _, f := range files {
		d := loadDatafile(t, filepath.Base(f))
		if d.Revision() == "" || len(d.FlagKeys()) == 0 {
			t.Errorf("%s: revision %q, flags %q", f, d.Revision(), d.FlagKeys())
		}
	}
	d := loadDatafile(t, "sticky.json")
	if got := strings.Join(d.FlagKeys(), ","); got != "flag_full,flag_rollout_only,flag_paused,flag_empty,flag_group" {
		t.Errorf("FlagKeys() = %s", got)
	}
	if got := strings.Join(d.ExperimentKeys(), ","); got != "exp_us,exp_paused,exp_whitelist,exp_not_and,exp_nobody,exp_feature,exp_new_app,exp_group_in,exp_group_out,exp_overlapping" {
		t.Errorf("ExperimentKeys() = %s", got)
	}
	if d.Revision() != "17" {
		t.Errorf("Revision() = %q", d.Revision())
	}
}

// FuzzParseDatafile: no input makes parsing or deciding panic; a rejected
// datafile's error is bounded; an accepted one's experiment and variation
// IDs can be saved in a profile and it decides for a few users. The seed
// corpus is testdata/*.json, the inputs below and
// testdata/fuzz/FuzzParseDatafile, which plain go test replays.
func FuzzParseDatafile(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version": "4", "typedAudiences": [{"id": "1", "conditions": [[[[]]]]}]}`))
	f.Add([]byte(`{"version": "4", "audiences": [{"id": "1", "conditions": "\"x\""}]}`))
	f.Add([]byte(`null`))
	// Small limits, so that short inputs reach every limit.
	small := Limits{MaxKeyBytes: 16, MaxIDBytes: 8, MaxConditionDepth: 4, MaxFlagsPerExperiment: 2, MaxProblems: 3, MaxQuoteBytes: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, lim := range []Limits{{}, small} {
			d, err := lim.ParseDatafile(data)
			if err != nil {
				checkDatafileError(t, err, lim.withDefaults())
				continue
			}
			checkSavable(t, d)
			decideSome(t, d)
		}
	})
}

func checkDatafileError(t *testing.T, err error, lim Limits) {
	var de *DatafileError
	if !errors.As(err, &de) {
		t.Fatalf("error %T is not a *DatafileError: %v", err, err)
	}
	if len(de.Problems) == 0 || len(de.Problems) > lim.MaxProblems {
		t.Fatalf("%d problems, limit %d", len(de.Problems), lim.MaxProblems)
	}
	// A cut message ends in …(N bytes).
	maxProblem := lim.maxProblemBytes() + len("…(18446744073709551615 bytes)")
	for _, p := range de.Problems {
		if len(p) > maxProblem {
			t.Fatalf("problem of %d bytes (limit %d): %.200s", len(p), maxProblem, p)
		}
	}
	if n, max := len(err.Error()), maxListedProblems*(maxProblem+2)+100; n > max {
		t.Fatalf("error of %d bytes, want at most %d", n, max)
	}
}

// checkSavable: every experiment and variation ID can key a profile.
func checkSavable(t *testing.T, d *Datafile) {
	for _, e := range d.experiments {
		for _, v := range e.variations {
			p := ups.NewProfile("user")
			p.Set(e.id, v.id)
			if err := p.Validate(); err != nil {
				t.Fatalf("experiment %q variation %q: %v", e.id, v.id, err)
			}
		}
	}
}

func decideSome(t *testing.T, d *Datafile) {
	c, err := NewClient(Options{Datafile: d, Profiles: newFakeStore()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	users := []User{
		{ID: "fuzz", Attributes: map[string]any{"country": "us", "age": 30, "app_version": "1.2.3"}},
		{ID: "vip", Attributes: map[string]any{"country": "fr", "age": 17.5, "beta": true, "$opt_bucketing_id": "b"}},
		{ID: ""},
	}
	keys := d.ExperimentKeys()
	if len(keys) > 20 {
		keys = keys[:20]
	}
	for _, u := range users {
		if _, err := c.DecideAll(ctx, u, IncludeReasons); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DecideAll(ctx, u, ExcludeVariables, IgnoreUserProfileService); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if _, err := c.DecideExperiment(ctx, u, k, IncludeReasons); err != nil {
				t.Fatal(err)
			}
		}
	}
}
