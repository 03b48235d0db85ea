package decision_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/decision"
)

func TestDefaultLimits(t *testing.T) {
	d := decision.DefaultLimits()
	v := reflect.ValueOf(d)
	for i := range v.NumField() {
		if v.Field(i).Int() <= 0 {
			t.Errorf("DefaultLimits().%s = %d", v.Type().Field(i).Name, v.Field(i).Int())
		}
	}
	// Zero fields take the defaults: the same datafile gives the same error.
	data := longKeyBadTraffic()
	_, err1 := decision.ParseDatafile(data)
	_, err2 := decision.Limits{}.ParseDatafile(data)
	_, err3 := d.ParseDatafile(data)
	if err1 == nil || err1.Error() != err2.Error() || err1.Error() != err3.Error() {
		t.Errorf("errors differ:\n%.200v\n%.200v\n%.200v", err1, err2, err3)
	}
}

// TestLimitsAreConfigurable: each limit can be lowered and raised.
func TestLimitsAreConfigurable(t *testing.T) {
	sticky, err := os.ReadFile("testdata/sticky.json")
	if err != nil {
		t.Fatal(err)
	}
	reject := func(t *testing.T, l decision.Limits, data []byte, want string) *decision.DatafileError {
		t.Helper()
		_, err := l.ParseDatafile(data)
		var de *decision.DatafileError
		if !errors.As(err, &de) {
			t.Fatalf("got %v, want a DatafileError", err)
		}
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %.500v\nwant it to contain %q", err, want)
		}
		return de
	}
	accept := func(t *testing.T, l decision.Limits, data []byte) *decision.Datafile {
		t.Helper()
		d, err := l.ParseDatafile(data)
		if err != nil {
			t.Fatalf("%.500v", err)
		}
		return d
	}

	t.Run("MaxBytes", func(t *testing.T) {
		reject(t, decision.Limits{MaxBytes: len(sticky) - 1}, sticky,
			fmt.Sprintf("decision: invalid datafile: datafile is %d bytes, the limit is %d", len(sticky), len(sticky)-1))
		accept(t, decision.Limits{MaxBytes: len(sticky)}, sticky)
	})
	t.Run("MaxKeyBytes", func(t *testing.T) {
		reject(t, decision.Limits{MaxKeyBytes: 5}, sticky, `experiments[0] "exp_us": key is 6 bytes, the limit is 5`)
		d := accept(t, decision.Limits{MaxKeyBytes: longKeyBytes}, longKeyManyRanges())
		c, err := decision.NewClient(decision.Options{Datafile: d})
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.DecideExperiment(context.Background(), decision.User{ID: "u"}, d.ExperimentKeys()[0])
		if err != nil || got.VariationKey != "on" {
			t.Errorf("decision with a 1 MB key: %+v, %v", got.VariationID, err)
		}
	})
	t.Run("MaxIDBytes", func(t *testing.T) {
		reject(t, decision.Limits{MaxIDBytes: 2}, sticky, `typedAudiences[0] "101": audience ID is 3 bytes, the limit is 2`)
		reject(t, decision.Limits{MaxIDBytes: 3}, sticky, `experiments[0] "exp_us": experiment ID is 4 bytes, the limit is 3`)
		// Raising it does not raise what a profile can hold.
		long := strings.Repeat("1", 300)
		data := []byte(`{"version": "4", "experiments": [{"id": "` + long + `", "key": "exp", "status": "Running", "variations": [], "trafficAllocation": []}]}`)
		reject(t, decision.Limits{MaxIDBytes: 1000}, data, "experiment ID is 300 bytes, the limit is 256")
	})
	t.Run("MaxConditionDepth", func(t *testing.T) {
		reject(t, decision.Limits{MaxConditionDepth: 3}, sticky, `conditions: nested more than 3 lists and objects deep`)
		d := accept(t, decision.Limits{MaxConditionDepth: 9991}, deepAudience())
		c, err := decision.NewClient(decision.Options{Datafile: d})
		if err != nil {
			t.Fatal(err)
		}
		for country, want := range map[string]string{"us": "on", "fr": ""} {
			got, err := c.DecideExperiment(context.Background(), decision.User{ID: "u", Attributes: map[string]any{"country": country}}, "exp")
			if err != nil || got.VariationKey != want {
				t.Errorf("%s through 9,990 lists: %q, %v; want %q", country, got.VariationKey, err, want)
			}
		}
	})
	t.Run("MaxFlagsPerExperiment", func(t *testing.T) {
		data := flagsSharing(5)
		de := reject(t, decision.Limits{}, data, `featureFlags[4] "f4": experimentIds[0]: experiment "1" is used by more than 4 flags`)
		if len(de.Problems) != 2 {
			t.Errorf("problems %q, want the experiment's and the rollout's", de.Problems)
		}
		reject(t, decision.Limits{}, data, `featureFlags[4] "f4": rolloutId: rollout "9" is used by more than 4 flags`)
		accept(t, decision.Limits{}, flagsSharing(4))
		accept(t, decision.Limits{MaxFlagsPerExperiment: 5}, data)
	})
	t.Run("MaxProblems", func(t *testing.T) {
		de := reject(t, decision.Limits{MaxProblems: 3}, longKeyBadTraffic(), "; and 198 more")
		if len(de.Problems) != 3 || de.Omitted != 198 {
			t.Errorf("%d problems, %d omitted", len(de.Problems), de.Omitted)
		}
	})
	t.Run("MaxQuoteBytes", func(t *testing.T) {
		reject(t, decision.Limits{MaxQuoteBytes: 4}, longKeyBadTraffic(), `experiments[0] "kkkk"…(1048576 bytes): key is`)
	})
}

// flagsSharing is a datafile where n flags use one experiment and one
// rollout.
func flagsSharing(n int) []byte {
	var flags []string
	for i := range n {
		flags = append(flags, fmt.Sprintf(`{"id": "f%d", "key": "f%d", "rolloutId": "9", "experimentIds": ["1"]}`, i, i))
	}
	return []byte(`{"version": "4",
	  "experiments": [{"id": "1", "key": "e", "status": "Running", "variations": [{"id": "2", "key": "on"}], "trafficAllocation": [{"entityId": "2", "endOfRange": 10000}]}],
	  "rollouts": [{"id": "9", "experiments": [{"id": "10", "key": "r", "status": "Running", "variations": [{"id": "11", "key": "on"}], "trafficAllocation": [{"entityId": "11", "endOfRange": 10000}]}]}],
	  "featureFlags": [` + strings.Join(flags, ",") + `]}`)
}

// TestElementsDoNotLeak: list elements are decoded into one reused value;
// nothing of an element may show in the next.
func TestElementsDoNotLeak(t *testing.T) {
	data := []byte(`{"version": "4",
	  "typedAudiences": [{"id": "50", "name": "us", "conditions": ["or", {"type": "custom_attribute", "name": "country", "value": "us"}]}],
	  "experiments": [
	    {"id": "1", "key": "first", "status": "Running", "audienceIds": ["50"], "audienceConditions": ["and", "50"],
	     "forcedVariations": {"vip": "b", "tester": "y"},
	     "variations": [{"id": "11", "key": "a", "featureEnabled": true, "variables": [{"id": "v", "value": "7"}]},
	                    {"id": "12", "key": "b", "featureEnabled": true, "variables": [{"id": "v", "value": "8"}]}],
	     "trafficAllocation": [{"entityId": "11", "endOfRange": 5000}, {"entityId": "12", "endOfRange": 10000}]},
	    {"id": "2", "key": "second", "status": "Running",
	     "variations": [{"id": "21", "key": "x"}, {"id": "22", "key": "y"}],
	     "trafficAllocation": [{"entityId": "21", "endOfRange": 10000}]}],
	  "featureFlags": [
	    {"id": "f1", "key": "one", "experimentIds": ["1"], "variables": [{"id": "v", "key": "n", "type": "integer", "defaultValue": "1"}]},
	    {"id": "f2", "key": "two", "experimentIds": ["2"]}]}`)
	d, err := decision.ParseDatafile(data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := decision.NewClient(decision.Options{Datafile: d})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Everyone is in "second" (no audience), in "x", the only variation
	// with traffic ("tester" is whitelisted into "y" in "first" only),
	// which does not enable its flag, which has no variables.
	for _, id := range []string{"tester", "someone"} {
		u := decision.User{ID: id, Attributes: map[string]any{"country": "fr"}}
		if got, err := c.DecideExperiment(ctx, u, "second"); err != nil || got.VariationKey != "x" {
			t.Errorf("%s in second: %q, %v", id, got.VariationKey, err)
		}
		f, err := c.Decide(ctx, u, "two")
		if err != nil || f.Enabled || f.Variables.Len() != 0 || f.VariationKey != "x" {
			t.Errorf("%s flag two: %+v, %v", id, f, err)
		}
	}
	// "first" still has its own audience, whitelist and values.
	if got, _ := c.DecideExperiment(ctx, decision.User{ID: "someone", Attributes: map[string]any{"country": "fr"}}, "first"); got.VariationKey != "" {
		t.Errorf("outside the audience of first: %q", got.VariationKey)
	}
	f, _ := c.Decide(ctx, decision.User{ID: "vip", Attributes: map[string]any{"country": "us"}}, "one")
	if f.VariationKey != "b" || f.Variables.Map()["n"] != 8 {
		t.Errorf("vip in flag one: %+v", f)
	}
}

// TestSparseVariableValues: a variation setting few of a flag's many
// variables serves its values and the defaults for the rest.
func TestSparseVariableValues(t *testing.T) {
	var vars []string
	for i := range 20 {
		vars = append(vars, fmt.Sprintf(`{"id": "v%d", "key": "k%d", "type": "integer", "defaultValue": "%d"}`, i, i, i))
	}
	vars = append(vars, `{"id": "j", "key": "j", "type": "json", "defaultValue": "{\"a\": 1}"}`)
	data := []byte(`{"version": "4",
	  "experiments": [{"id": "1", "key": "e", "status": "Running",
	    "variations": [{"id": "2", "key": "on", "featureEnabled": true, "variables": [{"id": "v3", "value": "300"}, {"id": "j", "value": "{\"a\": 2}"}, {"id": "v3", "value": "303"}]}],
	    "trafficAllocation": [{"entityId": "2", "endOfRange": 10000}]}],
	  "featureFlags": [{"id": "f", "key": "f", "experimentIds": ["1"], "variables": [` + strings.Join(vars, ",") + `]}]}`)
	d, err := decision.ParseDatafile(data)
	if err != nil {
		t.Fatal(err)
	}
	c, err := decision.NewClient(decision.Options{Datafile: d})
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Decide(context.Background(), decision.User{ID: "u"}, "f")
	if err != nil || f.Variables.Len() != 21 {
		t.Fatalf("%+v, %v", f, err)
	}
	served := f.Variables.Map()
	for i := range 20 {
		want := i
		if i == 3 {
			want = 303 // the last value for a variable wins
		}
		if got, _ := f.Variables.Get(fmt.Sprintf("k%d", i)); got != want || served[fmt.Sprintf("k%d", i)] != want {
			t.Errorf("k%d = %v, want %d", i, got, want)
		}
	}
	j := served["j"].(map[string]any)
	if j["a"] != 2.0 {
		t.Errorf("j = %v", j)
	}
	j["a"] = "changed"
	f, _ = c.Decide(context.Background(), decision.User{ID: "u"}, "f")
	if again, _ := f.Variables.Get("j"); again.(map[string]any)["a"] != 2.0 {
		t.Error("a served JSON value is shared between decisions")
	}
}

func TestDuplicateExperimentIDAcrossGroups(t *testing.T) {
	group := func(id, expID, key string) string {
		return `{"id": "` + id + `", "policy": "random", "trafficAllocation": [],
		  "experiments": [{"id": "` + expID + `", "key": "` + key + `", "status": "Running", "variations": [], "trafficAllocation": []}]}`
	}
	data := []byte(`{"version": "4", "groups": [` + group("g1", "7", "a") + `, ` + group("g2", "7", "b") + `]}`)
	_, err := decision.ParseDatafile(data)
	want := `groups[1] "g2": experiments[0] "b": duplicate experiment ID "7" (first at groups[0] "g1": experiments[0] "a")`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestDatafileSyntax(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{`{"version": "4"} {}`, "not valid JSON at byte 17"},
		{`{"version": "4", "events": [[[[`, "not valid JSON at byte"},
		{`{"version": "4", "version": "3"}`, `version "3": only version 4 is supported`},
		{`{"VERSION": "3"}`, `version "3": only version 4 is supported`},
		{`null`, `version "": only version 4 is supported`},
		{``, "not valid JSON at byte 0"},
		{`"4"`, "top level: got a JSON string, want an object"},
		{`{"version": 4}`, "version: got a JSON number, want a string"},
		{`{"version": "4", "experiments": {}}`, "experiments: got a JSON object, want a list"},
	} {
		_, err := decision.ParseDatafile([]byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.data, err, tc.want)
		}
	}
	// Unknown fields, nested as deeply as JSON allows, are skipped.
	deep := `{"version": "4", "extra": ` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`
	if _, err := decision.ParseDatafile([]byte(deep)); err != nil {
		t.Error(err)
	}
}
