package cassandra

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

type discardSaver struct{}

func (discardSaver) Save(context.Context, ups.Profile) error { return nil }

// BenchmarkImportPipeline measures what Import costs on top of the store:
// reading, parsing and validating lines and handing them to the savers,
// with a store that does nothing. Compare ns/op with the per-assignment
// time of the store itself (integration's BenchmarkImport).
func BenchmarkImportPipeline(b *testing.B) {
	const lines = 10000
	var input bytes.Buffer
	for i := range lines {
		fmt.Fprintf(&input, `{"user_id":"bench-user-%06d","experiment_bucket_map":{"exp-0":{"variation_id":"var-%d"}}}`+"\n", i, i%3)
	}
	b.ReportAllocs()
	for b.Loop() {
		sum, err := importProfiles(context.Background(), discardSaver{}, bytes.NewReader(input.Bytes()), ImportOptions{Concurrency: 32})
		if err != nil || sum.Profiles != lines {
			b.Fatal(sum, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
}
