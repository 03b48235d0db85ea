package decision

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

// The hot path (bucketing, audience evaluation, and a whole decision when
// nothing needs saving and no reasons are asked for) must not allocate.

// typicalAttributes are what services pass: JSON-decoded values and Go
// values of assorted types.
var typicalAttributes = []map[string]any{
	{"country": "us", "plan": "pro", "age": 30, "beta": false, "app_version": "1.3.5"},
	{"country": "uk", "plan": "free", "age": 17.0, "beta": true, "app_version": "2.0.0-rc.1"},
	{"country": "fr", "plan": "enterprise", "age": json.Number("45"), "beta": nil, "app_version": 2},
	{"country": "de", "age": float32(18), "app_version": "1.2.0", "$opt_bucketing_id": "shared"},
	{},
	nil,
}

func TestBucketingDoesNotAllocate(t *testing.T) {
	ids := []string{"user-1", "ユーザー42", "", "a-very-long-bucketing-id-that-still-fits-the-stack-buffer-easily"}
	for _, id := range ids {
		if n := testing.AllocsPerRun(200, func() { _ = bucketValue(id, "1886780721") }); n != 0 {
			t.Errorf("bucketValue(%q): %v allocs", id, n)
		}
	}
	ranges := []trafficRange[variation]{{end: 5000, entity: &variation{}}, {end: 10000}}
	if n := testing.AllocsPerRun(200, func() { _ = allocate(ranges, bucketValue("u", "1")) }); n != 0 {
		t.Errorf("allocate: %v allocs", n)
	}
}

func TestAudienceEvaluationDoesNotAllocate(t *testing.T) {
	for _, file := range []string{"bench/datafile_100_flags.json", "sticky.json", "typed_audience_datafile.json"} {
		d := loadDatafile(t, file)
		var trees []*node
		for _, e := range d.experiments {
			if e.audience != nil {
				trees = append(trees, e.audience)
			}
		}
		for _, f := range d.flags {
			if f.rollout != nil {
				for _, r := range f.rollout.rules {
					if r.audience != nil {
						trees = append(trees, r.audience)
					}
				}
			}
		}
		if len(trees) == 0 {
			t.Fatalf("%s: no audiences", file)
		}
		for _, attrs := range typicalAttributes {
			n := testing.AllocsPerRun(50, func() {
				for _, tree := range trees {
					_ = tree.eval(attrs)
				}
			})
			if n != 0 {
				t.Errorf("%s, attributes %v: %v allocs evaluating %d trees", file, attrs, n, len(trees))
			}
		}
	}
}

// warmStore returns a prepared profile without allocating, so the test
// measures the decision, not the store.
type warmStore struct{ p ups.Profile }

func (s *warmStore) Lookup(context.Context, string) (ups.Profile, error) { return s.p, nil }
func (s *warmStore) Save(context.Context, ups.Profile) error             { return nil }

func TestDecisionsDoNotAllocate(t *testing.T) {
	ctx := context.Background()
	d := loadDatafile(t, "bench/datafile_100_flags.json")
	bare, err := NewClient(Options{Datafile: d})
	if err != nil {
		t.Fatal(err)
	}
	// A store already holding every assignment the users would get, so
	// nothing is saved in the measured calls.
	warm := &warmStore{p: ups.NewProfile("bench-user")}
	sticky, err := NewClient(Options{Datafile: d, Profiles: warm})
	if err != nil {
		t.Fatal(err)
	}
	for _, attrs := range typicalAttributes {
		u := User{ID: "bench-user", Attributes: attrs}
		for _, key := range d.ExperimentKeys() {
			if dec, _ := bare.DecideExperiment(ctx, u, key); dec.VariationID != "" {
				warm.p.Set(dec.ExperimentID, dec.VariationID)
			}
		}
	}
	expKeys, flagKeys := d.ExperimentKeys(), d.FlagKeys()
	for _, attrs := range typicalAttributes {
		u := User{ID: "bench-user", Attributes: attrs}
		for _, c := range []*Client{bare, sticky} {
			if n := testing.AllocsPerRun(20, func() {
				for _, key := range expKeys {
					if _, err := c.DecideExperiment(ctx, u, key); err != nil {
						t.Fatal(err)
					}
				}
			}); n != 0 {
				t.Errorf("DecideExperiment (store %v), attributes %v: %v allocs", c.profiles != nil, attrs, n)
			}
			if n := testing.AllocsPerRun(20, func() {
				for _, key := range flagKeys {
					if _, err := c.Decide(ctx, u, key, ExcludeVariables); err != nil {
						t.Fatal(err)
					}
				}
			}); n != 0 {
				t.Errorf("Decide with ExcludeVariables (store %v), attributes %v: %v allocs", c.profiles != nil, attrs, n)
			}
		}
	}
}

func BenchmarkBucketValue(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = bucketValue("bench-user-0042", "20000123")
	}
}

func BenchmarkAudienceEval(b *testing.B) {
	d := loadDatafile(b, "bench/datafile_100_flags.json")
	tree := d.experimentByKey["ab_checkout"].audience
	attrs := typicalAttributes[0]
	b.ReportAllocs()
	for b.Loop() {
		_ = tree.eval(attrs)
	}
}

func BenchmarkDecideExperimentNoStore(b *testing.B) {
	c := newTestClient(b, "bench/datafile_100_flags.json", nil)
	u := User{ID: "bench-user-0042", Attributes: typicalAttributes[0]}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.DecideExperiment(ctx, u, "ab_checkout")
	}
}

func BenchmarkDecideFlagNoStore(b *testing.B) {
	c := newTestClient(b, "bench/datafile_100_flags.json", nil)
	u := User{ID: "bench-user-0042", Attributes: typicalAttributes[0]}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = c.Decide(ctx, u, "flag_002")
	}
}
