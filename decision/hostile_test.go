package decision_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// These tests use only ParseDatafile and DatafileError, so they also run
// against the code before Limits, where each of them fails.

// maxErrorBytes bounds a DatafileError's message with the default limits:
// ten listed problems of at most 1 KiB + 8 quotes each, and a count.
const maxErrorBytes = 10*(1024+8*64+16) + 100

// changedSticky returns testdata/sticky.json after change edits its
// decoded form.
func changedSticky(t *testing.T, change func(df map[string]any)) []byte {
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

// objAt walks a decoded datafile to an object: objAt(df, "experiments", 0).
func objAt(v any, path ...any) map[string]any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = v.(map[string]any)[k]
		case int:
			v = v.([]any)[k]
		}
	}
	return v.(map[string]any)
}

// parseError parses data, which must be rejected, and returns the error.
func parseError(t *testing.T, data []byte) *decision.DatafileError {
	t.Helper()
	d, err := decision.ParseDatafile(data)
	if err == nil {
		t.Fatalf("accepted (%d experiments)", len(d.ExperimentKeys()))
	}
	var de *decision.DatafileError
	if !errors.As(err, &de) {
		t.Fatalf("error %T is not a *DatafileError: %.300v", err, err)
	}
	if n := len(err.Error()); n > maxErrorBytes {
		t.Fatalf("error message is %d bytes, want at most %d: %.300s…", n, maxErrorBytes, err)
	}
	return de
}

func wantProblem(t *testing.T, de *decision.DatafileError, want string) {
	t.Helper()
	for _, p := range de.Problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("no problem contains %q; got %d problems, the first %.300q", want, len(de.Problems), de.Problems[0])
}

// TestHostileDatafiles: the shapes that once took hundreds of megabytes or
// seconds are rejected with short errors. (Their time and memory are
// measured by BenchmarkParseDatafile.)
func TestHostileDatafiles(t *testing.T) {
	t.Run("long key and bad traffic", func(t *testing.T) {
		de := parseError(t, longKeyBadTraffic())
		wantProblem(t, de, `experiments[0] "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk"…(1048576 bytes): key is 1048576 bytes, the limit is 1024`)
		wantProblem(t, de, `: trafficAllocation[98]: unknown variation "x98"`)
		if len(de.Problems) != 100 || de.Omitted != 101 {
			t.Errorf("%d problems kept, %d omitted; want 100 and 101", len(de.Problems), de.Omitted)
		}
		for _, p := range de.Problems {
			if len(p) > 1024+8*64 {
				t.Errorf("problem of %d bytes: %.200s…", len(p), p)
			}
		}
	})
	t.Run("long key and many ranges", func(t *testing.T) {
		de := parseError(t, longKeyManyRanges())
		wantProblem(t, de, `key is 1048576 bytes, the limit is 1024`)
		if len(de.Problems) != 1 {
			t.Errorf("problems %q, want only the key's", de.Problems)
		}
	})
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"deep typed audience", deepAudience(), `typedAudiences[0] "300": conditions: nested more than 32 lists and objects deep`},
		{"deep legacy audience", deepConditions(9990, true), `audiences[0] "300": conditions: nested more than 32 lists and objects deep`},
		{"deep audienceConditions", deepAudienceConditions(9990), `experiments[0] "exp": audienceConditions: nested more than 32 lists deep`},
		{"just too deep", deepConditions(32, false), `nested more than 32 lists and objects deep`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, parseError(t, tc.data), tc.want)
		})
	}
	t.Run("deep enough", func(t *testing.T) {
		// 31 lists around a leaf object: 32 levels, the limit.
		if _, err := decision.ParseDatafile(deepConditions(31, false)); err != nil {
			t.Fatal(err)
		}
		if _, err := decision.ParseDatafile(deepAudienceConditions(32)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("flood of empty experiments", func(t *testing.T) {
		de := parseError(t, emptyExperiments())
		if len(de.Problems) != 100 || de.Omitted < 500000 {
			t.Errorf("%d problems kept, %d omitted", len(de.Problems), de.Omitted)
		}
		wantProblem(t, de, `experiments[0] "": empty experiment key`)
		wantProblem(t, de, `experiments[0] "": empty experiment ID`)
	})
}

// TestProblemsAreBounded: a datafile with many problems keeps the first
// hundred and counts the rest, and quotes long values in part.
func TestProblemsAreBounded(t *testing.T) {
	long := strings.Repeat("é", 5000) // 10,000 bytes, cut between runes
	data := changedSticky(t, func(df map[string]any) {
		ranges := []any{}
		for i := range 500 {
			ranges = append(ranges, map[string]any{"entityId": fmt.Sprint(long, i), "endOfRange": 10000})
		}
		objAt(df, "experiments", 0)["trafficAllocation"] = ranges
	})
	de := parseError(t, data)
	if len(de.Problems) != 100 || de.Omitted != 400 {
		t.Fatalf("%d problems kept, %d omitted; want 100 and 400", len(de.Problems), de.Omitted)
	}
	if !strings.HasSuffix(de.Error(), "; and 490 more") {
		t.Errorf("message does not count the rest: …%s", de.Error()[len(de.Error())-40:])
	}
	want := `experiments[0] "exp_us": trafficAllocation[7]: unknown variation "` + strings.Repeat("é", 32) + `"…(10001 bytes)`
	wantProblem(t, de, want)
}

// TestExperimentIDsFitProfiles: an accepted datafile's experiment and
// variation IDs can be saved; before, one that could not made every save
// fail as a store failure.
func TestExperimentIDsFitProfiles(t *testing.T) {
	ctx := context.Background()
	withIDs := func(expID, varID string) []byte {
		return []byte(`{"version": "4", "revision": "1", "experiments": [{"id": ` + quoteJSON(expID) + `, "key": "exp", "status": "Running",
		  "variations": [{"id": ` + quoteJSON(varID) + `, "key": "on"}], "trafficAllocation": [{"entityId": ` + quoteJSON(varID) + `, "endOfRange": 10000}]}]}`)
	}
	atLimit := strings.Repeat("1", ups.MaxExperimentIDBytes)
	d, err := decision.ParseDatafile(withIDs(atLimit, strings.Repeat("2", ups.MaxVariationIDBytes)))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := decision.NewClient(decision.Options{Datafile: d, Profiles: mem})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.DecideExperiment(ctx, decision.User{ID: "u"}, "exp"); err != nil || got.VariationKey != "on" {
		t.Fatalf("decision at the ID limits: %+v, %v", got, err)
	}

	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"long experiment ID", withIDs(atLimit+"1", "2"),
			fmt.Sprintf(`experiments[0] "exp": experiment ID is %d bytes, the limit is %d`, ups.MaxExperimentIDBytes+1, ups.MaxExperimentIDBytes)},
		{"long variation ID", withIDs("1", strings.Repeat("2", ups.MaxVariationIDBytes+1)),
			fmt.Sprintf(`experiments[0] "exp": variations[0] "on": variation ID is %d bytes, the limit is %d`, ups.MaxVariationIDBytes+1, ups.MaxVariationIDBytes)},
		{"experiment ID not UTF-8", withIDs("1\xff", "2"), `not valid JSON at byte 59: invalid UTF-8`},
		{"variation ID not UTF-8", withIDs("1", "\xc3("), `not valid JSON at byte`},
		{"variation ID a lone surrogate", withIDs("1", `\ud800`), `not valid JSON at byte`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, parseError(t, tc.data), tc.want)
		})
	}
}

// quoteJSON quotes s for JSON without escaping anything but quotes and
// backslashes that are not escapes already, so invalid UTF-8 and escape
// sequences given by a test reach the parser as they are.
func quoteJSON(s string) string { return `"` + s + `"` }

// TestTypeErrorsHaveIndexes: a value of the wrong type is reported at its
// full path, indexes included.
func TestTypeErrorsHaveIndexes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(df map[string]any)
		want   string
	}{
		{"traffic", func(df map[string]any) {
			tr := objAt(df, "experiments", 5)["trafficAllocation"].([]any)
			objAt(df, "experiments", 5)["trafficAllocation"] = append(tr, map[string]any{"entityId": "", "endOfRange": "all"})
		}, "experiments[5].trafficAllocation[1].endOfRange: got a JSON string, want an integer"},
		{"variable default", func(df map[string]any) {
			objAt(df, "featureFlags", 0, "variables", 2)["defaultValue"] = 0.5
		}, "featureFlags[0].variables[2].defaultValue: got a JSON number, want a string"},
		{"group member", func(df map[string]any) {
			objAt(df, "groups", 0, "experiments", 1, "variations", 0)["featureEnabled"] = "yes"
		}, "groups[0].experiments[1].variations[0].featureEnabled: got a JSON string, want a boolean"},
		{"rule audience", func(df map[string]any) {
			objAt(df, "rollouts", 0, "experiments", 1)["audienceIds"] = []any{"104", 105}
		}, "rollouts[0].experiments[1].audienceIds[1]: got a JSON number, want a string"},
		{"forced variation", func(df map[string]any) {
			objAt(df, "experiments", 2)["forcedVariations"] = map[string]any{"7": true}
		}, "experiments[2].forcedVariations.7: got a JSON bool, want a string"},
		{"element", func(df map[string]any) {
			df["typedAudiences"] = append(df["typedAudiences"].([]any), "101")
		}, "typedAudiences[4]: got a JSON string, want an object"},
		{"integer", func(df map[string]any) {
			objAt(df, "experiments", 0, "trafficAllocation", 0)["endOfRange"] = 2.5
		}, "experiments[0].trafficAllocation[0].endOfRange: got a JSON number, want an integer"},
		{"alone", func(df map[string]any) {
			objAt(df, "experiments", 0, "trafficAllocation", 0)["entityId"] = "nope" // reported before
			objAt(df, "featureFlags", 0)["key"] = ""                                 // checked after
			objAt(df, "featureFlags", 0, "variables", 1)["defaultValue"] = 5
		}, "featureFlags[0].variables[1].defaultValue: got a JSON number, want a string"},
		{"top-level scalar", func(df map[string]any) {
			df["revision"] = 17
		}, "revision: got a JSON number, want a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			de := parseError(t, changedSticky(t, tc.change))
			if len(de.Problems) != 1 || !strings.Contains(de.Problems[0], tc.want) {
				t.Errorf("problems %q, want one containing %q", de.Problems, tc.want)
			}
		})
	}
}
