package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/migrate"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/stack"
	"github.com/stickybucket/stickybucket/ups"
)

// env builds a validated environment with one replica per datacenter
// (replication, localDC) read and written at LOCAL_ONE.
func env(t testing.TB, ks string, retention time.Duration, overrides map[string]time.Duration) config.Environment {
	t.Helper()
	e := config.Environment{
		Retention:        config.Duration(retention),
		Keyspace:         ks,
		Replication:      replication,
		ReadConsistency:  "LOCAL_ONE",
		WriteConsistency: "LOCAL_ONE",
		LocalDC:          localDC,
	}
	if overrides != nil {
		e.RetentionOverrides = map[string]config.Duration{}
		for id, d := range overrides {
			e.RetentionOverrides[id] = config.Duration(d)
		}
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	return e
}

// newStore migrates the environment's keyspace and returns a store on it
// with its own session, closed at the end of the test.
func newStore(t testing.TB, e config.Environment) *cassandra.Store {
	t.Helper()
	ctx := context.Background()
	if err := cassandra.Migrate(ctx, cluster(), stack.CassandraMigrateOptions(e, slog.Default())); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	session, err := cluster().CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(session.Close)
	opts, err := stack.CassandraStoreOptions(e)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cassandra.NewStore(session, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ttlOf reads the remaining TTL of one row directly; -1 means no TTL.
func ttlOf(t testing.TB, ks, userID, expID string) int {
	t.Helper()
	var ttl *int
	err := admin.Query("SELECT TTL(variation_id) FROM "+ks+".assignments WHERE user_id = ? AND experiment_id = ?", userID, expID).Scan(&ttl)
	if err != nil {
		t.Fatalf("read TTL of %s/%s: %v", userID, expID, err)
	}
	if ttl == nil {
		return -1
	}
	return *ttl
}

func rowCount(t testing.TB, ks, userID string) int {
	t.Helper()
	var n int
	if err := admin.Query("SELECT COUNT(*) FROM "+ks+".assignments WHERE user_id = ?", userID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "roundtrip")
	s := newStore(t, env(t, ks, time.Hour, nil))

	before := time.Now().Add(-time.Second)
	p := ups.NewProfile("user-roundtrip")
	p.Set("1001", "2001")
	p.Set("1002", "2005")
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(ctx, "user-roundtrip")
	if err != nil {
		t.Fatal(err)
	}
	if got.UserID != "user-roundtrip" || len(got.Assignments) != 2 {
		t.Fatalf("Lookup = %+v, want 2 assignments", got)
	}
	for expID, want := range map[string]string{"1001": "2001", "1002": "2005"} {
		a := got.Assignments[expID]
		if a.VariationID != want {
			t.Errorf("experiment %s: variation %q, want %q", expID, a.VariationID, want)
		}
		if a.DecidedAt.Before(before) || a.DecidedAt.After(time.Now().Add(time.Second)) {
			t.Errorf("experiment %s: decided_at %v is not around now", expID, a.DecidedAt)
		}
		if left := time.Until(a.ExpiresAt); left < 55*time.Minute || left > time.Hour {
			t.Errorf("experiment %s: expires in %v, want about an hour", expID, left)
		}
	}

	// A save only upserts what it carries: 1001 changes, 1002 is untouched.
	update := ups.NewProfile("user-roundtrip")
	update.Set("1001", "2002")
	if err := s.Save(ctx, update); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Lookup(ctx, "user-roundtrip")
	if v, _ := got.Variation("1001"); v != "2002" {
		t.Errorf("after update, 1001 = %q, want 2002", v)
	}
	if v, _ := got.Variation("1002"); v != "2005" {
		t.Errorf("after update, 1002 = %q, want 2005 (untouched)", v)
	}

	unknown, err := s.Lookup(ctx, "nobody")
	if err != nil || unknown.UserID != "nobody" || !unknown.Empty() {
		t.Errorf("Lookup(unknown) = %+v, %v; want an empty profile and no error", unknown, err)
	}
}

func TestLargeSave(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "large")
	s := newStore(t, env(t, ks, time.Hour, nil))
	p := ups.NewProfile("user-large")
	for i := range 150 {
		p.Set(fmt.Sprintf("exp-%03d", i), fmt.Sprintf("var-%03d", i))
	}
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(ctx, "user-large")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assignments) != 150 {
		t.Fatalf("%d assignments read back, want 150", len(got.Assignments))
	}
}

func TestTTLExpires(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "ttl")
	s := newStore(t, env(t, ks, 2*time.Second, nil))
	p := ups.NewProfile("user-ttl")
	p.Set("1001", "2001")
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ttl := ttlOf(t, ks, "user-ttl", "1001"); ttl < 1 || ttl > 2 {
		t.Fatalf("TTL(variation_id) right after the save = %d, want 1..2", ttl)
	}
	if got, _ := s.Lookup(ctx, "user-ttl"); got.Empty() {
		t.Fatal("assignment missing right after the save")
	}
	// Cassandra expires cells by the second; poll rather than sleep exactly.
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := s.Lookup(ctx, "user-ttl")
		if err != nil {
			t.Fatal(err)
		}
		if got.Empty() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("assignment still there 15s after a 2s retention: %+v", got)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if n := rowCount(t, ks, "user-ttl"); n != 0 {
		t.Fatalf("%d rows left after expiry, want 0", n)
	}
}

func TestEnvironmentsWriteTheirOwnTTL(t *testing.T) {
	ctx := context.Background()
	devKS, prodKS := keyspace(t, "dev"), keyspace(t, "prod")
	dev := newStore(t, env(t, devKS, time.Hour, nil))
	prod := newStore(t, env(t, prodKS, 90*24*time.Hour, nil))
	p := ups.NewProfile("user-env")
	p.Set("1001", "2001")
	for _, s := range []*cassandra.Store{dev, prod} {
		if err := s.Save(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if ttl := ttlOf(t, devKS, "user-env", "1001"); ttl < 3590 || ttl > 3600 {
		t.Errorf("development TTL = %d, want about 3600", ttl)
	}
	if ttl := ttlOf(t, prodKS, "user-env", "1001"); ttl < 7775990 || ttl > 7776000 {
		t.Errorf("production TTL = %d, want about 7776000 (90 days)", ttl)
	}
}

func TestPerExperimentRetentionOverride(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "override")
	s := newStore(t, env(t, ks, time.Hour, map[string]time.Duration{"holdout": 0, "short": time.Minute}))
	p := ups.NewProfile("user-override")
	p.Set("holdout", "a")
	p.Set("short", "b")
	p.Set("default", "c")
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	if ttl := ttlOf(t, ks, "user-override", "holdout"); ttl != -1 {
		t.Errorf("holdout TTL = %d, want none (retention 0 keeps forever)", ttl)
	}
	if ttl := ttlOf(t, ks, "user-override", "short"); ttl < 50 || ttl > 60 {
		t.Errorf("short TTL = %d, want about 60", ttl)
	}
	if ttl := ttlOf(t, ks, "user-override", "default"); ttl < 3590 || ttl > 3600 {
		t.Errorf("default TTL = %d, want about 3600", ttl)
	}
	got, _ := s.Lookup(ctx, "user-override")
	if a := got.Assignments["holdout"]; !a.ExpiresAt.IsZero() {
		t.Errorf("holdout ExpiresAt = %v, want zero (never)", a.ExpiresAt)
	}
}

func TestConcurrentSavesForOneUser(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "concurrent")
	s := newStore(t, env(t, ks, time.Hour, nil))
	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			p := ups.NewProfile("user-concurrent")
			p.Set(fmt.Sprintf("exp-%d", i), fmt.Sprintf("var-%d", i))
			if err := s.Save(ctx, p); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.Lookup(ctx, "user-concurrent")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assignments) != n {
		t.Fatalf("%d of %d concurrently saved assignments survived", len(got.Assignments), n)
	}
	for i := range n {
		if v, _ := got.Variation(fmt.Sprintf("exp-%d", i)); v != fmt.Sprintf("var-%d", i) {
			t.Errorf("exp-%d = %q", i, v)
		}
	}
}

func TestMigrationsTwice(t *testing.T) {
	ctx := context.Background()
	e := env(t, keyspace(t, "migrate"), time.Hour, nil)
	for i := range 2 {
		if err := cassandra.Migrate(ctx, cluster(), stack.CassandraMigrateOptions(e, slog.Default())); err != nil {
			t.Fatalf("Migrate #%d: %v", i+1, err)
		}
	}
	c := cluster()
	c.Keyspace = e.Keyspace
	session, err := gocqlx.WrapSession(c.CreateSession())
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	applied, err := migrate.List(ctx, session)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 || applied[0].Name != "schema.cql" || applied[1].Name != "schema_0002_overrides.cql" || applied[0].Done == 0 || applied[1].Done == 0 {
		for _, a := range applied {
			t.Logf("applied: %+v", *a)
		}
		t.Fatalf("migrations recorded %d entries, want schema.cql and schema_0002_overrides.cql once each", len(applied))
	}
	var class string
	err = admin.Query("SELECT compaction['class'] FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'assignments'", e.Keyspace).Scan(&class)
	if err != nil || !strings.HasSuffix(class, "LeveledCompactionStrategy") {
		t.Fatalf("assignments compaction = %q, %v; want LeveledCompactionStrategy", class, err)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "delete")
	s := newStore(t, env(t, ks, time.Hour, nil))
	for _, u := range []string{"user-erase", "user-keep"} {
		p := ups.NewProfile(u)
		p.Set("1001", "2001")
		p.Set("1002", "2002")
		if err := s.Save(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Delete(ctx, "user-erase"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Lookup(ctx, "user-erase"); !got.Empty() {
		t.Errorf("deleted user still has %+v", got.Assignments)
	}
	if got, _ := s.Lookup(ctx, "user-keep"); len(got.Assignments) != 2 {
		t.Errorf("Delete touched another user: %+v", got.Assignments)
	}
}

func TestBadInputWritesNothing(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "badinput")
	s := newStore(t, env(t, ks, time.Hour, nil))
	tests := []struct {
		name string
		p    ups.Profile
	}{
		{"empty user ID", ups.Profile{Assignments: map[string]ups.Assignment{"1": {VariationID: "2"}}}},
		{"oversized user ID", ups.Profile{UserID: strings.Repeat("u", ups.MaxUserIDBytes+1), Assignments: map[string]ups.Assignment{"1": {VariationID: "2"}}}},
		{"one empty variation among good ones", ups.Profile{UserID: "user-bad", Assignments: map[string]ups.Assignment{
			"1": {VariationID: "2"}, "3": {VariationID: ""}, "5": {VariationID: "6"},
		}}},
		{"empty experiment ID", ups.Profile{UserID: "user-bad", Assignments: map[string]ups.Assignment{"": {VariationID: "2"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Save(ctx, tt.p)
			if !errors.Is(err, ups.ErrInvalidProfile) {
				t.Fatalf("Save = %v, want ErrInvalidProfile", err)
			}
		})
	}
	if n := rowCount(t, ks, "user-bad"); n != 0 {
		t.Fatalf("invalid saves wrote %d rows, want 0", n)
	}
	var total int
	if err := admin.Query("SELECT COUNT(*) FROM " + ks + ".assignments").Scan(&total); err != nil || total != 0 {
		t.Fatalf("table holds %d rows (%v), want 0", total, err)
	}
	for _, id := range []string{"", strings.Repeat("u", ups.MaxUserIDBytes+1)} {
		if _, err := s.Lookup(ctx, id); !errors.Is(err, ups.ErrInvalidProfile) {
			t.Errorf("Lookup(%d-byte ID) = %v, want ErrInvalidProfile", len(id), err)
		}
		if err := s.Delete(ctx, id); !errors.Is(err, ups.ErrInvalidProfile) {
			t.Errorf("Delete(%d-byte ID) = %v, want ErrInvalidProfile", len(id), err)
		}
	}
}

// TestSurvivesRestart also covers a dead node: while the container is
// stopped, calls fail with an error naming the operation and the user, and
// the same store recovers once the node is back.
func TestSurvivesRestart(t *testing.T) {
	if !cass.Managed() {
		t.Skip("CASSANDRA_HOSTS names an existing cluster; this test restarts the node it would start")
	}
	node := cass.Node(0)
	ctx := context.Background()
	ks := keyspace(t, "restart")
	s := newStore(t, env(t, ks, time.Hour, nil))
	p := ups.NewProfile("user-restart")
	p.Set("1001", "2001")
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}

	if err := node.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	// Make sure the node comes back whatever happens below, so later tests
	// in this binary still have it.
	restarted := false
	defer func() {
		if !restarted {
			if err := node.Start(context.Background()); err != nil {
				t.Errorf("restart Cassandra after a failed test: %v", err)
			}
		}
	}()
	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	_, err := s.Lookup(short, "user-restart")
	cancel()
	if err == nil {
		t.Fatal("Lookup succeeded with Cassandra stopped")
	}
	if !strings.Contains(err.Error(), `cassandra: lookup user "user-restart"`) {
		t.Errorf("error while down does not name the operation and user: %v", err)
	}
	if !ups.Unavailable(err) {
		t.Errorf("error while down is not classified as unavailable (ups.Unavailable): %v", err)
	}
	short, cancel = context.WithTimeout(ctx, 5*time.Second)
	err = s.Save(short, p)
	cancel()
	if err == nil || !strings.Contains(err.Error(), `cassandra: save user "user-restart"`) {
		t.Errorf("Save while down = %v, want an error naming the operation and user", err)
	}

	if err := node.Start(ctx); err != nil {
		t.Fatal(err)
	}
	restarted = true

	// The old session reconnects on its own; give it a bounded while.
	var got ups.Profile
	deadline := time.Now().Add(time.Minute)
	for {
		got, err = s.Lookup(ctx, "user-restart")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		t.Fatalf("store did not recover after restart: %v", err)
	}
	if v, _ := got.Variation("1001"); v != "2001" {
		t.Fatalf("after restart, 1001 = %q, want 2001", v)
	}
}

func TestLookupExperimentsReadsOnlyThose(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "scoped")
	s := newStore(t, env(t, ks, time.Hour, nil))
	p := ups.NewProfile("user-scoped")
	for i := range 20 {
		p.Set(fmt.Sprintf("exp-%02d", i), fmt.Sprintf("var-%02d", i))
	}
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.LookupExperiments(ctx, "user-scoped", []string{"exp-03", "exp-17", "exp-99"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Assignments) != 2 || got.Assignments["exp-03"].VariationID != "var-03" || got.Assignments["exp-17"].VariationID != "var-17" {
		t.Fatalf("LookupExperiments = %+v, want exactly exp-03 and exp-17", got.Assignments)
	}
	if got.Assignments["exp-03"].ExpiresAt.IsZero() {
		t.Error("scoped lookup lost the expiry")
	}
	none, err := s.LookupExperiments(ctx, "user-scoped", nil)
	if err != nil || !none.Empty() {
		t.Fatalf("LookupExperiments(no IDs) = %+v, %v; want an empty profile", none, err)
	}
}
