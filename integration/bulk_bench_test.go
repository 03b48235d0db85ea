package integration

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/ups"
)

// BenchmarkImport compares Store.Import with the fastest plain client: raw
// gocql inserts of the same rows, with the statement the store prepares,
// the same number of goroutines, the same consistency and its own session
// to the same node. Import also reads and validates JSON and groups a
// profile's rows into one unlogged batch; raw inserts send one statement
// per row. Both report assignments/s; run with
//
//	go test -run '^$' -bench BenchmarkImport -benchtime 3x -count 5 ./integration/
//
// Each iteration imports the whole data set and inserts it raw (upserts
// both), timing each separately; ns/op is the pair.
func BenchmarkImport(b *testing.B) {
	const users, concurrency = 5000, 32
	for _, perUser := range []int{1, 4} {
		ks := keyspace(b, fmt.Sprintf("bench_import_%d", perUser))
		e := env(b, ks, 24*time.Hour, nil)
		store := newStore(b, e)
		profiles := make([]ups.Profile, users)
		var input bytes.Buffer
		for i := range profiles {
			p := ups.NewProfile(fmt.Sprintf("bench-user-%06d", i))
			for x := range perUser {
				p.Set(fmt.Sprintf("exp-%d", x), fmt.Sprintf("var-%d", (i+x)%3))
			}
			profiles[i] = p
			line, _ := p.MarshalJSON()
			input.Write(append(line, '\n'))
		}
		assignments := float64(users * perUser)

		session, err := cluster().CreateSession()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(session.Close)

		b.Run(fmt.Sprintf("assignments=%d", perUser), func(b *testing.B) {
			ctx := context.Background()
			importAll := func() {
				sum, err := store.Import(ctx, bytes.NewReader(input.Bytes()), cassandra.ImportOptions{Concurrency: concurrency})
				if err != nil || sum.BadLines != 0 || sum.Assignments != int64(assignments) {
					b.Fatalf("Import = %+v, %v", sum, err)
				}
			}
			insert := "INSERT INTO " + ks + ".assignments (user_id,experiment_id,variation_id,decided_at) VALUES (?,?,?,?) USING TTL ?"
			ttl := ups.TTLSeconds(24 * time.Hour)
			insertAll := func() {
				rows := make(chan [3]string, concurrency)
				var wg sync.WaitGroup
				var mu sync.Mutex
				var firstErr error
				for range concurrency {
					wg.Go(func() {
						for r := range rows {
							err := session.Query(insert, r[0], r[1], r[2], time.Now(), ttl).
								Consistency(gocql.LocalOne).Idempotent(true).Exec()
							if err != nil {
								mu.Lock()
								firstErr = cmpErr(firstErr, err)
								mu.Unlock()
							}
						}
					})
				}
				for _, p := range profiles {
					for exp, a := range p.Assignments {
						rows <- [3]string{p.UserID, exp, a.VariationID}
					}
				}
				close(rows)
				wg.Wait()
				if firstErr != nil {
					b.Fatal(firstErr)
				}
			}
			timed := func(f func()) time.Duration {
				start := time.Now()
				f()
				return time.Since(start)
			}
			// Warm up the node's code paths and both connection pools.
			importAll()
			insertAll()
			// Alternate which goes first, so drift in the machine's load
			// (two cores shared with the node and other work) hits both.
			var storeTime, rawTime time.Duration
			for i := 0; b.Loop(); i++ {
				if i%2 == 0 {
					storeTime += timed(importAll)
					rawTime += timed(insertAll)
				} else {
					rawTime += timed(insertAll)
					storeTime += timed(importAll)
				}
			}
			storeRate := assignments * float64(b.N) / storeTime.Seconds()
			rawRate := assignments * float64(b.N) / rawTime.Seconds()
			b.ReportMetric(storeRate, "import-assignments/s")
			b.ReportMetric(rawRate, "raw-assignments/s")
			b.ReportMetric(100*storeRate/rawRate, "import/raw-%")
		})
	}
}

// BenchmarkExport reads 20,000 assignments of 5,000 users back as JSON
// lines with the default options and reports rows/s.
func BenchmarkExport(b *testing.B) {
	ks := keyspace(b, "bench_export")
	store := newStore(b, env(b, ks, 24*time.Hour, nil))
	profiles := make([]ups.Profile, 5000)
	for i := range profiles {
		p := ups.NewProfile(fmt.Sprintf("bench-user-%06d", i))
		for x := range 4 {
			p.Set(fmt.Sprintf("exp-%d", x), fmt.Sprintf("var-%d", (i+x)%3))
		}
		profiles[i] = p
	}
	saveAll(b, store, profiles)
	var buf bytes.Buffer
	exportAll := func() {
		buf.Reset()
		sum, err := store.Export(context.Background(), &buf, cassandra.ExportOptions{})
		if err != nil || sum.Rows != 20000 || sum.Profiles != 5000 {
			b.Fatalf("Export = %+v, %v", sum, err)
		}
	}
	exportAll()
	for b.Loop() {
		exportAll()
	}
	b.ReportMetric(20000*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
