package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/stack"
	"github.com/stickybucket/stickybucket/ups"
)

// TestMigrateWithNewClusterWiring runs exactly the production wiring of
// stack (and of cassandra/example_test.go): NewCluster's configuration
// (token-aware policy and all) given to Migrate and then to the store's
// session. Migrate
// used to open its sessions from shallow copies sharing that policy, and
// gocql panicked: "sharing token aware host selection policy between
// sessions is not supported".
func TestMigrateWithNewClusterWiring(t *testing.T) {
	ctx := context.Background()
	e := env(t, keyspace(t, "wiring"), time.Hour, nil)
	conn := config.Default().Cassandra
	conn.Hosts, conn.Port = cass.Hosts(), cass.Port()
	clusterOpts, err := stack.CassandraClusterOptions(conn, e)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := cassandra.NewCluster(clusterOpts)
	if err != nil {
		t.Fatal(err)
	}
	if err := cassandra.Migrate(ctx, cluster, stack.CassandraMigrateOptions(e, nil)); err != nil {
		t.Fatal(err)
	}
	if err := cassandra.Migrate(ctx, cluster, stack.CassandraMigrateOptions(e, nil)); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	session, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	opts, err := stack.CassandraStoreOptions(e)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cassandra.NewStore(session, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, oneAssignment("user-wiring", "1001", "2001")); err != nil {
		t.Fatal(err)
	}
	if a, ok, err := s.LookupAssignment(ctx, "user-wiring", "1001"); err != nil || !ok || a.VariationID != "2001" {
		t.Fatalf("LookupAssignment = %+v, %v, %v", a, ok, err)
	}
}

// TestSaveIsOneBatchWithOneTimestamp: a save of more assignments than the
// old 64-row chunk is one batch with one client-side timestamp, so it is
// applied whole or not at all and a retry rewrites the same cells. Chunked
// batches each took their own timestamp.
func TestSaveIsOneBatchWithOneTimestamp(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "onebatch")
	s := newStore(t, env(t, ks, time.Hour, nil))
	p := ups.NewProfile("user-onebatch")
	for i := range ups.MaxAssignments {
		p.Set(fmt.Sprintf("exp-%04d", i), fmt.Sprintf("var-%04d-%s", i, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"))
	}
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	iter := admin.Query("SELECT WRITETIME(variation_id) FROM "+ks+".assignments WHERE user_id = ?", "user-onebatch").Iter()
	stamps := map[int64]int{}
	var ts int64
	for iter.Scan(&ts) {
		stamps[ts]++
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if len(stamps) != 1 {
		t.Fatalf("one save of %d assignments was written with %d distinct timestamps %v, want 1", ups.MaxAssignments, len(stamps), stamps)
	}
	for _, n := range stamps {
		if n != ups.MaxAssignments {
			t.Fatalf("%d rows written, want %d", n, ups.MaxAssignments)
		}
	}
}

func TestSaveKeepsGivenDecidedAt(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, env(t, keyspace(t, "decidedat"), time.Hour, nil))
	first := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	p := ups.NewProfile("user-decidedat")
	p.Assignments["1001"] = ups.Assignment{VariationID: "2001", DecidedAt: first}
	if err := s.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	a, ok, err := s.LookupAssignment(ctx, "user-decidedat", "1001")
	if err != nil || !ok {
		t.Fatalf("LookupAssignment = %+v, %v, %v", a, ok, err)
	}
	if !a.DecidedAt.Equal(first) {
		t.Errorf("decided_at = %v, want the given %v", a.DecidedAt, first)
	}
	if left := time.Until(a.ExpiresAt); left < 59*time.Minute {
		t.Errorf("expires in %v, want about an hour from the save, not from decided_at", left)
	}
}

func TestSaveFirst(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, env(t, keyspace(t, "first"), time.Hour, nil))
	won, err := s.SaveFirst(ctx, oneAssignment("user-first", "1001", "a"))
	if err != nil || !won.Empty() {
		t.Fatalf("first SaveFirst = %+v, %v; want it applied", won, err)
	}
	second := ups.NewProfile("user-first")
	second.Set("1001", "b")
	second.Set("1002", "c")
	second.Set("1003", "d")
	won, err = s.SaveFirst(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := won.Variation("1001"); v != "a" || len(won.Assignments) != 1 {
		t.Fatalf("SaveFirst won = %+v, want 1001=a only", won.Assignments)
	}
	got, err := s.Lookup(ctx, "user-first")
	if err != nil {
		t.Fatal(err)
	}
	for exp, want := range map[string]string{"1001": "a", "1002": "c", "1003": "d"} {
		if v, _ := got.Variation(exp); v != want {
			t.Errorf("%s = %q, want %q", exp, v, want)
		}
	}
	if got.Assignments["1002"].ExpiresAt.IsZero() {
		t.Error("SaveFirst wrote no TTL")
	}
}

// TestSaveFirstRace: many writers offer different variations for one new
// user at once; exactly one is stored and every writer learns it.
func TestSaveFirstRace(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, env(t, keyspace(t, "firstrace"), time.Hour, nil))
	const writers = 8
	served := make([]string, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			mine := fmt.Sprintf("var-%d", i)
			won, err := s.SaveFirst(ctx, oneAssignment("user-race", "1001", mine))
			if err != nil {
				t.Error(err)
				return
			}
			served[i] = mine
			if v, ok := won.Variation("1001"); ok {
				served[i] = v
			}
		})
	}
	close(start)
	wg.Wait()
	got, err := s.Lookup(ctx, "user-race")
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := got.Variation("1001")
	for i, v := range served {
		if v != stored {
			t.Errorf("writer %d serves %q, but %q is stored", i, v, stored)
		}
	}
}

func TestClosedStore(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, env(t, keyspace(t, "closed"), time.Hour, nil))
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lookup(ctx, "u"); !errors.Is(err, ups.ErrClosed) {
		t.Errorf("Lookup after Close = %v, want ups.ErrClosed", err)
	}
	if err := s.Save(ctx, oneAssignment("u", "e", "v")); !errors.Is(err, ups.ErrClosed) {
		t.Errorf("Save after Close = %v, want ups.ErrClosed", err)
	}
}

func oneAssignment(userID, expID, varID string) ups.Profile {
	p := ups.NewProfile(userID)
	p.Set(expID, varID)
	return p
}
