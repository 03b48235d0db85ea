package integration

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/stack"
	"github.com/stickybucket/stickybucket/ups"
)

// The store against the plainest client that writes and reads the same
// rows: raw gocql, on the same session (so the same connections), with the
// same statements, consistency (LOCAL_ONE), TTL and client timestamp, so
// both send the same frames and the difference is the store's own work
// (validation, sorting, binding, error wrapping, building the profile).
// Run both sides in one invocation, so the machine's load hits both:
//
//	go test -run '^$' -bench 'BenchmarkStoreVsRaw|BenchmarkSaveFirst' -benchmem -benchtime 2s ./integration/ -args -rounds 6 | tee vs.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -filter .name:StoreVsRaw -col /client -ignore /round vs.txt
//
// -rounds 6 runs each side 6 times, store and raw one after the other,
// which -count 6 would not: it runs a sub-benchmark's 6 runs in a row,
// and on this shared machine the load drifted enough between the store's
// six and the raw six to show a 14% "difference" in an identical query.
//
// Each benchmark makes one call at a time, so ns/op is a round trip
// through one node on loopback: about 1.4 ms on this machine (2 shared
// cores), mostly waiting, since 32 callers at once get 13,000–30,000
// calls/s out of the same node (BenchmarkCapacity). The store's own cost
// is in B/op and allocs/op. load-avg is the machine's one-minute load
// average when each run ended.

const (
	benchRetention = 90 * 24 * time.Hour
	// benchUsers users with benchPerUser assignments each are written
	// before the lookups are timed.
	benchUsers   = 2000
	benchPerUser = 20
	// maxOps bounds the operations of one run of a benchmark that needs
	// a new user each time (their IDs are drawn before the timer starts):
	// tens of seconds at the speed of one node.
	maxOps = 100_000
)

// rawClient is what a hand-written gocql client of the assignments table
// does: prepared statements (gocql prepares every statement with bind
// markers on first use and caches it) and nothing else.
type rawClient struct {
	session                    *gocql.Session
	insert, one, some, profile string
	ttl                        int
}

func newRawClient(session *gocql.Session, ks string) rawClient {
	t := ks + ".assignments"
	cols := "experiment_id, variation_id, decided_at, TTL(variation_id)"
	return rawClient{
		session: session,
		insert:  "INSERT INTO " + t + " (user_id, experiment_id, variation_id, decided_at) VALUES (?, ?, ?, ?) USING TTL ?",
		one:     "SELECT variation_id, decided_at, TTL(variation_id) FROM " + t + " WHERE user_id = ? AND experiment_id = ?",
		some:    "SELECT " + cols + " FROM " + t + " WHERE user_id = ? AND experiment_id IN ?",
		profile: "SELECT " + cols + " FROM " + t + " WHERE user_id = ?",
		ttl:     ups.TTLSeconds(benchRetention),
	}
}

// save writes rows (experiment, variation) of one user: one INSERT, or an
// unlogged batch of them.
func (r rawClient) save(ctx context.Context, userID string, rows [][2]string) error {
	now := time.Now()
	ts := now.UnixMicro()
	decided := now.UTC().Truncate(time.Millisecond)
	if len(rows) == 1 {
		return r.session.Query(r.insert, userID, rows[0][0], rows[0][1], decided, r.ttl).
			WithContext(ctx).Consistency(gocql.LocalOne).WithTimestamp(ts).Idempotent(true).Exec()
	}
	b := r.session.NewBatch(gocql.UnloggedBatch).WithContext(ctx).WithTimestamp(ts)
	b.SetConsistency(gocql.LocalOne)
	for _, row := range rows {
		b.Entries = append(b.Entries, gocql.BatchEntry{
			Stmt: r.insert, Args: []any{userID, row[0], row[1], decided, r.ttl}, Idempotent: true,
		})
	}
	return r.session.ExecuteBatch(b)
}

// lookupOne scans one row.
func (r rawClient) lookupOne(ctx context.Context, userID, expID string) (string, error) {
	var (
		varID   string
		decided time.Time
		ttl     int
	)
	err := r.session.Query(r.one, userID, expID).WithContext(ctx).Consistency(gocql.LocalOne).Idempotent(true).
		Scan(&varID, &decided, &ttl)
	return varID, err
}

// lookupRows scans the rows a query returns and counts them.
func (r rawClient) lookupRows(ctx context.Context, stmt string, args ...any) (int, error) {
	iter := r.session.Query(stmt, args...).WithContext(ctx).Consistency(gocql.LocalOne).Idempotent(true).Iter()
	var (
		expID, varID string
		decided      time.Time
		ttl          int
		n            int
	)
	for iter.Scan(&expID, &varID, &decided, &ttl) {
		n++
	}
	return n, iter.Close()
}

// benchSession returns a session of its own to the test cluster, closed
// at the end of the benchmark.
func benchSession(b *testing.B) *gocql.Session {
	b.Helper()
	s, err := cluster().CreateSession()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// benchStore migrates a keyspace with the benchmarks' retention and
// returns a store on session with the given serial consistency.
func benchStore(b *testing.B, session *gocql.Session, ks string, serial gocql.SerialConsistency) *cassandra.Store {
	b.Helper()
	e := env(b, ks, benchRetention, nil)
	if err := cassandra.Migrate(context.Background(), cluster(), stack.CassandraMigrateOptions(e, slog.Default())); err != nil {
		b.Fatalf("Migrate: %v", err)
	}
	opts, err := stack.CassandraStoreOptions(e)
	if err != nil {
		b.Fatal(err)
	}
	opts.SerialConsistency = serial
	s, err := cassandra.NewStore(session, opts)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// side is one half (or third, or quarter) of a comparison: a benchmark
// body and its name.
type side struct {
	name string
	run  func(b *testing.B)
}

// comparison is one operation measured several ways; name may be empty.
type comparison struct {
	name  string
	sides []side
}

// runRounds runs every comparison's sides as sub-benchmarks named
// <comparison>/round=<r>/<side>, -rounds times, the sides of one
// comparison right after one another and in a rotating order, so that a
// drift in the machine's load over the run hits every side alike.
// benchstat pools the rounds with -ignore /round.
func runRounds(b *testing.B, cs ...comparison) {
	for _, c := range cs {
		prefix := c.name + "/"
		if c.name == "" {
			prefix = ""
		}
		for r := range *rounds {
			for k := range c.sides {
				s := c.sides[(r+k)%len(c.sides)]
				b.Run(fmt.Sprintf("%sround=%d/%s", prefix, r+1, s.name), s.run)
			}
		}
	}
}

var rounds = flag.Int("rounds", 1,
	"times BenchmarkStoreVsRaw and BenchmarkSaveFirst run each of their sub-benchmarks, interleaved (pool them with benchstat -ignore /round)")

// BenchmarkStoreVsRaw times each store call against raw gocql doing the
// same: Save of 1 and 5 assignments (new users; 5 go in one unlogged
// batch), LookupAssignment (one row), LookupExperiments (2 rows by
// experiment_id IN ?) and Lookup (a whole profile of 20 rows). The store's
// profiles are built before the timer starts, as the raw side's rows are.
func BenchmarkStoreVsRaw(b *testing.B) {
	ctx := context.Background()
	session := benchSession(b)
	ks := keyspace(b, "bench_vs_raw")
	store := benchStore(b, session, ks, gocql.Serial)
	raw := newRawClient(session, ks)

	exps := catalogue(1, 200)
	const seed = 0xbe7c_0001
	users := make([]string, benchUsers)
	rows := make([][][2]string, benchUsers)
	profiles := make([]ups.Profile, benchUsers)
	for i := range users {
		users[i] = uuidAt(seed, uint64(i))
		rows[i] = userAssignments(exps, seed, uint64(i), benchPerUser)
		profiles[i] = ups.NewProfile(users[i])
		for _, r := range rows[i] {
			profiles[i].Set(r[0], r[1])
		}
	}
	saveAll(b, store, profiles)
	// The experiment IDs a decision of a flag with two experiments asks
	// for, per user.
	pairs := make([][]string, len(users))
	for u := range users {
		pairs[u] = []string{rows[u][u%benchPerUser][0], rows[u][(u+7)%benchPerUser][0]}
	}
	// The node's JIT and both sides' code paths warm up before anything
	// is timed, so the first benchmark does not pay for them.
	warmUp(b, func(i int) error {
		u := i % len(users)
		fresh := ups.NewProfile(newUserID())
		fresh.Set(rows[u][0][0], rows[u][0][1])
		errs := []error{store.Save(ctx, fresh), raw.save(ctx, newUserID(), rows[u][:5])}
		_, _, err := store.LookupAssignment(ctx, users[u], rows[u][0][0])
		errs = append(errs, err)
		_, err = raw.lookupOne(ctx, users[u], rows[u][0][0])
		errs = append(errs, err)
		_, err = store.LookupExperiments(ctx, users[u], pairs[u])
		errs = append(errs, err)
		_, err = raw.lookupRows(ctx, raw.some, users[u], pairs[u])
		errs = append(errs, err)
		_, err = store.Lookup(ctx, users[u])
		errs = append(errs, err)
		_, err = raw.lookupRows(ctx, raw.profile, users[u])
		return errors.Join(append(errs, err)...)
	})

	// saves returns the two sides of a save of n assignments. Each
	// operation writes a user nobody wrote before, with the assignments of
	// one of the users above: the IDs are drawn outside the timer, for up
	// to maxOps operations a run, and the store's profile shares its
	// assignments map with that user's.
	saves := func(n int) []side {
		ids := func() []string {
			s := make([]string, maxOps)
			for i := range s {
				s[i] = newUserID()
			}
			return s
		}
		return []side{{"client=store", func(b *testing.B) {
			ids := ids()
			ps := make([]ups.Profile, len(profiles))
			for u := range ps {
				ps[u] = ups.NewProfile(users[u])
				for _, r := range rows[u][:n] {
					ps[u].Set(r[0], r[1])
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i == maxOps {
					b.Fatalf("more than %d operations: lower -benchtime", maxOps)
				}
				p := ps[i%len(ps)]
				p.UserID = ids[i]
				if err := store.Save(ctx, p); err != nil {
					b.Fatal(err)
				}
			}
			reportLoad(b)
		}}, {"client=raw", func(b *testing.B) {
			ids := ids()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i == maxOps {
					b.Fatalf("more than %d operations: lower -benchtime", maxOps)
				}
				if err := raw.save(ctx, ids[i], rows[i%len(rows)][:n]); err != nil {
					b.Fatal(err)
				}
			}
			reportLoad(b)
		}}}
	}

	lookupAssignment := []side{{"client=store", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			u := i % len(users)
			want := rows[u][i%benchPerUser]
			a, ok, err := store.LookupAssignment(ctx, users[u], want[0])
			if err != nil || !ok || a.VariationID != want[1] {
				b.Fatalf("LookupAssignment(%s, %s) = %+v, %v, %v; want %s", users[u], want[0], a, ok, err, want[1])
			}
		}
		reportLoad(b)
	}}, {"client=raw", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			u := i % len(users)
			want := rows[u][i%benchPerUser]
			v, err := raw.lookupOne(ctx, users[u], want[0])
			if err != nil || v != want[1] {
				b.Fatalf("raw lookup of %s, %s = %q, %v; want %s", users[u], want[0], v, err, want[1])
			}
		}
		reportLoad(b)
	}}}

	lookupExperiments := []side{{"client=store", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			u := i % len(users)
			p, err := store.LookupExperiments(ctx, users[u], pairs[u])
			if err != nil || len(p.Assignments) != 2 {
				b.Fatalf("LookupExperiments(%s) = %d assignments, %v; want 2", users[u], len(p.Assignments), err)
			}
		}
		reportLoad(b)
	}}, {"client=raw", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			u := i % len(users)
			n, err := raw.lookupRows(ctx, raw.some, users[u], pairs[u])
			if err != nil || n != 2 {
				b.Fatalf("raw IN lookup of %s = %d rows, %v; want 2", users[u], n, err)
			}
		}
		reportLoad(b)
	}}}

	lookup := []side{{"client=store", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			u := i % len(users)
			p, err := store.Lookup(ctx, users[u])
			if err != nil || len(p.Assignments) != benchPerUser {
				b.Fatalf("Lookup(%s) = %d assignments, %v; want %d", users[u], len(p.Assignments), err, benchPerUser)
			}
		}
		reportLoad(b)
	}}, {"client=raw", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			u := i % len(users)
			n, err := raw.lookupRows(ctx, raw.profile, users[u])
			if err != nil || n != benchPerUser {
				b.Fatalf("raw lookup of %s = %d rows, %v; want %d", users[u], n, err, benchPerUser)
			}
		}
		reportLoad(b)
	}}}

	runRounds(b,
		comparison{"Save/rows=1", saves(1)},
		comparison{"Save/rows=5", saves(5)},
		comparison{"LookupAssignment", lookupAssignment},
		comparison{"LookupExperiments/rows=2", lookupExperiments},
		comparison{fmt.Sprintf("Lookup/rows=%d", benchPerUser), lookup},
	)
}

// BenchmarkSaveFirst prices first-writer-wins: SaveFirst (INSERT … IF NOT
// EXISTS, a Paxos round) of one assignment of a new user at SERIAL and at
// LOCAL_SERIAL, against Save (a plain upsert) of the same row, and
// SaveFirst losing to a row that exists (the round finds it and writes
// nothing). Compare with
//
//	go run golang.org/x/perf/cmd/benchstat@latest -filter .name:SaveFirst -col /op -ignore /round vs.txt
//
// On the test's one node SERIAL and LOCAL_SERIAL reach the same single
// replica, so they should cost the same here; across datacenters SERIAL
// waits for a quorum of all replicas.
func BenchmarkSaveFirst(b *testing.B) {
	ctx := context.Background()
	session := benchSession(b)
	ks := keyspace(b, "bench_first")
	serial := benchStore(b, session, ks, gocql.Serial)
	local := benchStore(b, session, ks, gocql.LocalSerial)

	exps := catalogue(2, 200)
	one := func(userID string, n uint64) ups.Profile {
		a := userAssignments(exps, 0xf1_0001, n, 1)[0]
		p := ups.NewProfile(userID)
		p.Set(a[0], a[1])
		return p
	}
	existing := make([]ups.Profile, benchUsers)
	for i := range existing {
		existing[i] = one(uuidAt(0xf1_0002, uint64(i)), uint64(i))
	}
	saveAll(b, serial, existing)
	warmUp(b, func(i int) error {
		p := existing[i%len(existing)]
		p.UserID = newUserID()
		_, err := serial.SaveFirst(ctx, p)
		p.UserID = newUserID()
		_, err2 := local.SaveFirst(ctx, p)
		return errors.Join(err, err2)
	})

	// newUsers returns profiles of new users, made before the timer
	// starts, each with one assignment.
	newUsers := func() []ups.Profile {
		ps := make([]ups.Profile, maxOps)
		for i := range ps {
			ps[i] = existing[i%len(existing)]
			ps[i].UserID = newUserID()
		}
		return ps
	}
	firstSide := func(name string, store *cassandra.Store) side {
		return side{"op=" + name, func(b *testing.B) {
			ps := newUsers()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if i == maxOps {
					b.Fatalf("more than %d operations: lower -benchtime", maxOps)
				}
				won, err := store.SaveFirst(ctx, ps[i])
				if err != nil || !won.Empty() {
					b.Fatalf("SaveFirst of new user %s = %v, %v; want it written", ps[i].UserID, won, err)
				}
			}
			reportLoad(b)
		}}
	}
	// Another variation for each existing user, which must lose.
	rivals := make([]ups.Profile, len(existing))
	for i, had := range existing {
		rivals[i] = ups.NewProfile(had.UserID)
		for exp := range had.Assignments {
			rivals[i].Set(exp, "another-variation")
		}
	}
	sides := []side{{"op=save", func(b *testing.B) {
		ps := newUsers()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if i == maxOps {
				b.Fatalf("more than %d operations: lower -benchtime", maxOps)
			}
			if err := serial.Save(ctx, ps[i]); err != nil {
				b.Fatal(err)
			}
		}
		reportLoad(b)
	}}, firstSide("first-serial", serial), firstSide("first-localserial", local), {"op=first-lost", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			had := existing[i%len(existing)]
			won, err := serial.SaveFirst(ctx, rivals[i%len(rivals)])
			if err != nil || !sameVariations(won, had) {
				b.Fatalf("SaveFirst over an existing row = %v, %v; want it to lose to %v", won, err, had)
			}
		}
		reportLoad(b)
	}}}
	runRounds(b, comparison{"", sides})
}

// warmUp calls f 1,000 times, before any benchmark is timed.
func warmUp(b *testing.B, f func(i int) error) {
	b.Helper()
	for i := range 1000 {
		if err := f(i); err != nil {
			b.Fatalf("warm-up: %v", err)
		}
	}
}

// sameVariations reports whether two profiles hold the same experiments
// with the same variations.
func sameVariations(a, b ups.Profile) bool {
	if len(a.Assignments) != len(b.Assignments) {
		return false
	}
	for exp, x := range a.Assignments {
		if y, ok := b.Assignments[exp]; !ok || x.VariationID != y.VariationID {
			return false
		}
	}
	return true
}
