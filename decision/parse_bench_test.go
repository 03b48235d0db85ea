package decision_test

import (
	"testing"

	"github.com/stickybucket/stickybucket/decision"
)

// BenchmarkParseDatafile parses each generated datafile, valid or not. Its
// speed and memory goals: every datafile up to the size bound is accepted or
// rejected in time and memory proportional to its size; each 1 MB hostile
// one in under 100 ms and 50 MB; the 55 MB valid one in at most 2.7 s and
// 394 MB. Run it as
//
//	go test -run '^$' -bench ParseDatafile -benchmem -count 5 ./decision/
func BenchmarkParseDatafile(b *testing.B) {
	cases := []struct {
		name  string
		data  func() []byte
		valid bool
	}{
		{"long_key_bad_traffic", longKeyBadTraffic, false},
		{"long_key_many_ranges", longKeyManyRanges, false},
		{"deep_audience", deepAudience, false},
		{"empty_experiments", emptyExperiments, false},
		{"tiny_experiments", tinyExperiments, true},
		{"leaf_flood", leafFlood, false},
		{"ref_flood", refFlood, false},
		{"group_flood", groupFlood, false},
		{"rule_flood", ruleFlood, false},
		{"variation_flood", variationFlood, false},
		{"range_flood", rangeFlood, false},
		{"variable_flood", variableFlood, false},
		{"shared_experiment", sharedExperiment, false},
		{"many_variables_many_variations", manyVariablesManyVariations, false},
		{"large_valid", largeDatafile, true},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			data := tc.data()
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				benchParse(b, data, tc.valid)
			}
		})
	}
}

func benchParse(b *testing.B, data []byte, valid bool) {
	_, err := decision.ParseDatafile(data)
	if valid && err != nil {
		b.Fatalf("%.300v", err)
	}
}
