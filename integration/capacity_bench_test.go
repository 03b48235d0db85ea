package integration

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/ups"
)

var capacityUsers = flag.Int("capacity.users", 100_000,
	"users BenchmarkCapacity writes, with 20 assignments each")

const (
	capacityPerUser     = 20
	capacityExperiments = 400 // the catalogue each user's 20 are drawn from
	capacityConcurrency = 32
	// capacityPhase is how long each throughput phase runs.
	capacityPhase = 10 * time.Second
	// capacityDeadline bounds one whole run: load, flush, compactions and
	// the throughput phases.
	capacityDeadline = 30 * time.Minute
)

// BenchmarkCapacity is the raw material of a capacity model: it writes
// -capacity.users users (default 100,000) with 20 assignments each into a
// fresh keyspace of the store's schema (LZ4 compression, the default;
// LeveledCompactionStrategy), flushes the table (testcluster's Flush: an
// ALTER TABLE, no JMX), waits until compactions have been quiet for 10 s,
// and adds up the table's files on the node's disk (live SSTables, no
// snapshots). IDs are realistic: user IDs are UUIDs, experiment and
// variation IDs ten-digit numbers, each user in 20 of 400 experiments;
// the retention is 90 days. Two ways of writing:
//
//	written=now       Store.Save, one unlogged batch per user, 32 at a
//	                  time: every row written during the run, so write
//	                  times and expiry times are minutes apart.
//	written=over-90d  raw INSERTs with USING TIMESTAMP and TTL as a table
//	                  in steady state holds them: each assignment made at
//	                  a random time in the last 90 days (decided_at and
//	                  write time then, TTL what is left of the 90 days).
//	                  Wider timestamps take more bytes per row.
//
// Figures: disk-B/assignment and disk-B/user (every SSTable component),
// data-B/assignment (Data.db alone). written=now also measures the node's
// throughput with 32 goroutines on one session, each for 10 s after 10 s
// of warm-up reads:
// load-assignments/s (the 20-row batches above), save1/s (Store.Save of
// one assignment of a new user), lookup1/s (LookupAssignment of an
// existing row) and lookup20/s (Lookup of a whole 20-row profile) — one
// container on a machine of 2 shared cores, client included. Run with
//
//	go test -run '^$' -bench BenchmarkCapacity -benchtime 1x -count 3 -timeout 3h ./integration/ | tee capacity.txt
//
// Each run writes a keyspace of its own and drops it afterwards.
func BenchmarkCapacity(b *testing.B) {
	if !cass.Managed() {
		b.Skip("CASSANDRA_HOSTS names an existing cluster; the harness cannot look at its disks")
	}
	if *capacityUsers < 1 {
		b.Fatalf("-capacity.users=%d: want at least one user", *capacityUsers)
	}
	exps := catalogue(3, capacityExperiments)
	// Warm the node's write and read paths (JIT) on a keyspace of its
	// own, flushed so reads go to an SSTable: the first run measured on a
	// fresh node read at half the rate of the next five.
	warmCtx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	warm := benchStore(b, benchSession(b), keyspace(b, "capacity_warm"), gocql.Serial)
	warmUsers := min(*capacityUsers, 20_000)
	const warmSeed = 0x3a2e
	if err := loadNow(warmCtx, warm, exps, warmUsers, warmSeed); err != nil {
		b.Fatalf("warm-up: %v", err)
	}
	if err := cass.Flush(warmCtx, warm.Keyspace(), "assignments"); err != nil {
		b.Fatal(err)
	}
	if ph := phase(warmCtx, func(r *rand.Rand) error {
		n := uint64(r.IntN(warmUsers))
		if r.IntN(2) == 0 {
			_, err := warm.Lookup(warmCtx, uuidAt(warmSeed, n))
			return err
		}
		a := userAssignments(exps, warmSeed, n, capacityPerUser)[0]
		_, _, err := warm.LookupAssignment(warmCtx, uuidAt(warmSeed, n), a[0])
		return err
	}); ph.err != nil {
		b.Fatalf("warm-up: %v", ph.err)
	}
	if err := admin.Query("DROP KEYSPACE IF EXISTS " + warm.Keyspace()).Exec(); err != nil {
		b.Logf("drop %s: %v", warm.Keyspace(), err)
	}
	for _, aged := range []bool{false, true} {
		name := map[bool]string{false: "written=now", true: "written=over-90d"}[aged]
		b.Run(name, func(b *testing.B) {
			logHarnessTo(b)
			for b.Loop() {
				capacityRun(b, exps, aged)
			}
		})
	}
}

var capacityRuns atomic.Int64

// capacityRun is one whole measurement in a keyspace of its own.
func capacityRun(b *testing.B, exps []experiment, aged bool) {
	ctx, cancel := context.WithTimeout(context.Background(), capacityDeadline)
	defer cancel()
	users := *capacityUsers
	ks := keyspace(b, fmt.Sprintf("capacity_%d", capacityRuns.Add(1)))
	session := benchSession(b)
	store := benchStore(b, session, ks, gocql.Serial)
	defer func() {
		if err := admin.Query("DROP KEYSPACE IF EXISTS " + ks).Exec(); err != nil {
			b.Logf("drop %s: %v", ks, err)
		}
	}()
	const seed = 0xcafe_0001
	userID := func(n int) string { return uuidAt(seed, uint64(n)) }

	began := time.Now()
	var err error
	if aged {
		err = loadAged(ctx, session, ks, exps, users, seed)
	} else {
		err = loadNow(ctx, store, exps, users, seed)
	}
	if err != nil {
		b.Fatal(err)
	}
	load := time.Since(began)
	assignments := float64(users * capacityPerUser)

	if err := cass.Flush(ctx, ks, "assignments"); err != nil {
		b.Fatal(err)
	}
	node := cass.Node(0)
	if err := node.WaitCompactions(ctx, 10*time.Second); err != nil {
		b.Fatal(err)
	}
	files, err := node.TableFiles(ctx, ks, "assignments")
	if err != nil {
		b.Fatal(err)
	}
	var total, data int64
	bySuffix := map[string]int64{}
	sstables := 0
	for _, f := range files {
		total += f.Size
		// nb-3-big-Data.db: the component is what follows the last '-'.
		suffix := f.Name[strings.LastIndexByte(f.Name, '-')+1:]
		bySuffix[suffix] += f.Size
		if suffix == "Data.db" {
			data += f.Size
			sstables++
		}
	}
	if sstables == 0 {
		b.Fatalf("no SSTable for %s.assignments after the flush: %v", ks, files)
	}
	var parts []string
	for _, s := range slices.Sorted(maps.Keys(bySuffix)) {
		parts = append(parts, fmt.Sprintf("%s %d (%.2f B/assignment)", s, bySuffix[s], float64(bySuffix[s])/assignments))
	}
	b.Logf("%d users × %d assignments written in %s; %d SSTable(s), %d bytes: %s",
		users, capacityPerUser, load.Round(time.Millisecond), sstables, total, strings.Join(parts, ", "))
	b.ReportMetric(float64(total)/assignments, "disk-B/assignment")
	b.ReportMetric(float64(total)/float64(users), "disk-B/user")
	b.ReportMetric(float64(data)/assignments, "data-B/assignment")
	if aged {
		reportLoad(b)
		return
	}
	b.ReportMetric(assignments/load.Seconds(), "load-assignments/s")

	// Throughput phases, on the table just measured, after a warm-up of
	// the read path (the first phase to read was slower than the next).
	lookup1 := func(r *rand.Rand) error {
		n := r.IntN(users)
		want := userAssignments(exps, seed, uint64(n), capacityPerUser)[r.IntN(capacityPerUser)]
		a, ok, err := store.LookupAssignment(ctx, userID(n), want[0])
		if err == nil && (!ok || a.VariationID != want[1]) {
			err = fmt.Errorf("LookupAssignment(%s, %s) = %+v, %v; want %s", userID(n), want[0], a, ok, want[1])
		}
		return err
	}
	lookup20 := func(r *rand.Rand) error {
		n := r.IntN(users)
		p, err := store.Lookup(ctx, userID(n))
		if err == nil && len(p.Assignments) != capacityPerUser {
			err = fmt.Errorf("Lookup(%s) = %d assignments, want %d", userID(n), len(p.Assignments), capacityPerUser)
		}
		return err
	}
	if warm := phase(ctx, func(r *rand.Rand) error {
		if r.IntN(2) == 0 {
			return lookup1(r)
		}
		return lookup20(r)
	}); warm.err != nil {
		b.Fatal(warm.err)
	}
	saves := phase(ctx, func(r *rand.Rand) error {
		p := ups.NewProfile(newUserID())
		e := exps[r.IntN(len(exps))]
		p.Set(e.id, e.variations[0])
		return store.Save(ctx, p)
	})
	lookups1 := phase(ctx, lookup1)
	lookups20 := phase(ctx, lookup20)
	for _, ph := range []phaseResult{saves, lookups1, lookups20} {
		if ph.err != nil {
			b.Fatal(ph.err)
		}
	}
	b.Logf("throughput with %d goroutines: save1 %s, lookup1 %s, lookup20 %s", capacityConcurrency, saves, lookups1, lookups20)
	b.ReportMetric(saves.rate(), "save1/s")
	b.ReportMetric(lookups1.rate(), "lookup1/s")
	b.ReportMetric(lookups20.rate(), "lookup20/s")
	reportLoad(b)
}

// loadNow writes users × 20 assignments with Store.Save, 32 users at a
// time.
func loadNow(ctx context.Context, store *cassandra.Store, exps []experiment, users int, seed uint64) error {
	return forEachUser(ctx, users, func(n int) error {
		p := ups.NewProfile(uuidAt(seed, uint64(n)))
		for _, a := range userAssignments(exps, seed, uint64(n), capacityPerUser) {
			p.Set(a[0], a[1])
		}
		return store.Save(ctx, p)
	})
}

// loadAged writes the same assignments as loadNow as a table in steady
// state holds them: each made at a random time in the last 90 days, with
// that write time and decided_at and the rest of the 90 days as TTL. A
// user's rows go in one unlogged batch, each with its own timestamp.
func loadAged(ctx context.Context, session *gocql.Session, ks string, exps []experiment, users int, seed uint64) error {
	insert := "INSERT INTO " + ks + ".assignments (user_id, experiment_id, variation_id, decided_at) VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?"
	now := time.Now()
	retention := int64(benchRetention / time.Second)
	return forEachUser(ctx, users, func(n int) error {
		r := rand.New(rand.NewPCG(seed^0xa9ed, uint64(n)))
		id := uuidAt(seed, uint64(n))
		b := session.NewBatch(gocql.UnloggedBatch).WithContext(ctx)
		b.SetConsistency(gocql.LocalOne)
		for _, a := range userAssignments(exps, seed, uint64(n), capacityPerUser) {
			age := r.Int64N(retention - 1) // seconds, so at least a second of TTL is left
			at := now.Add(-time.Duration(age)*time.Second - time.Duration(r.Int64N(int64(time.Second))))
			b.Entries = append(b.Entries, gocql.BatchEntry{
				Stmt:       insert,
				Args:       []any{id, a[0], a[1], at.UTC().Truncate(time.Millisecond), retention - age, at.UnixMicro()},
				Idempotent: true,
			})
		}
		return session.ExecuteBatch(b)
	})
}

// forEachUser runs write for users 0…users-1 on 32 goroutines and returns
// the first error, after which it starts no more writes.
func forEachUser(ctx context.Context, users int, write func(n int) error) error {
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		failed   atomic.Bool
	)
	for range capacityConcurrency {
		wg.Go(func() {
			for n := range work {
				if err := write(n); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("write user %d: %w", n, err))
					mu.Unlock()
					failed.Store(true)
				}
			}
		})
	}
	for n := 0; n < users && !failed.Load() && ctx.Err() == nil; n++ {
		work <- n
	}
	close(work)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// phaseResult is what one throughput phase did.
type phaseResult struct {
	ops     int64
	elapsed time.Duration
	err     error
}

func (p phaseResult) rate() float64 { return float64(p.ops) / p.elapsed.Seconds() }

func (p phaseResult) String() string {
	return fmt.Sprintf("%.0f/s (%d in %s)", p.rate(), p.ops, p.elapsed.Round(time.Millisecond))
}

// phase runs op on 32 goroutines for capacityPhase, each with a random
// source of its own, and stops at the first error.
func phase(ctx context.Context, op func(r *rand.Rand) error) phaseResult {
	ctx, cancel := context.WithTimeout(ctx, capacityPhase)
	defer cancel()
	var (
		wg       sync.WaitGroup
		ops      atomic.Int64
		mu       sync.Mutex
		firstErr error
	)
	start := time.Now()
	for g := range capacityConcurrency {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(0x9a5e, uint64(g)))
			for ctx.Err() == nil {
				if err := op(r); err != nil {
					if ctx.Err() != nil {
						return // the phase ended during the call
					}
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					cancel()
					return
				}
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	return phaseResult{ops: ops.Load(), elapsed: time.Since(start), err: firstErr}
}
