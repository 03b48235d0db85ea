package multidc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// datafileServing returns the sample datafile with experiment
// checkout_button sending all its traffic to variationID: two regions on
// different datafiles (one already changed, one not yet) would bucket a
// new user differently.
func datafileServing(t *testing.T, variationID string) *decision.Datafile {
	t.Helper()
	raw, err := os.ReadFile(dataFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	for _, e := range doc["experiments"].([]any) {
		if exp := e.(map[string]any); exp["key"] == expKey {
			exp["trafficAllocation"] = []any{map[string]any{"entityId": variationID, "endOfRange": 10000}}
		}
	}
	b, _ := json.Marshal(doc)
	df, err := decision.ParseDatafile(b)
	if err != nil {
		t.Fatal(err)
	}
	return df
}

// barrier is a store that lets a lookup return only once every contender
// of the race has looked up: each then decides on what it read before any
// of them wrote, the interleaving in which two regions disagree.
type barrier struct {
	*cassandra.Store
	lookedUp *sync.WaitGroup
}

func (b barrier) LookupAssignment(ctx context.Context, userID, experimentID string) (ups.Assignment, bool, error) {
	a, ok, err := b.Store.LookupAssignment(ctx, userID, experimentID)
	b.lookedUp.Done()
	b.lookedUp.Wait()
	return a, ok, err
}

// TestFirstWriterWinsAcrossDatacenters: a server in dc1 and one in dc2
// decide the same new users at the same moment, on datafiles that bucket
// them into different variations. With first writer wins (lightweight
// transactions at SERIAL) both serve one variation per user, the one that
// is stored; with plain saves they would serve their own.
func TestFirstWriterWinsAcrossDatacenters(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "first_writer")
	inDC1 := storeIn(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
	inDC2 := storeIn(t, ks, dc2, "LOCAL_QUORUM", "LOCAL_QUORUM")
	warmUp(t, inDC1, 20)
	warmUp(t, inDC2, 20)
	lookedUp := &sync.WaitGroup{}
	client := func(store *cassandra.Store, variationID string, first bool) *decision.Client {
		c, err := decision.NewClient(decision.Options{Datafile: datafileServing(t, variationID), Profiles: barrier{store, lookedUp}, FirstWriterWins: first})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	race := func(a, b *decision.Client, user string) (string, string) {
		var (
			wg     sync.WaitGroup
			va, vb string
		)
		lookedUp.Add(2)
		start := make(chan struct{})
		for _, side := range []struct {
			c   *decision.Client
			out *string
		}{{a, &va}, {b, &vb}} {
			wg.Go(func() {
				<-start
				d, err := side.c.DecideExperiment(ctx, decision.User{ID: user}, expKey)
				if err != nil {
					t.Errorf("%s: %v", user, err)
				}
				*side.out = d.VariationID
			})
		}
		close(start)
		wg.Wait()
		return va, vb
	}

	// Control: with plain saves each region serves its own bucketing.
	plain1, plain2 := client(inDC1, "4001", false), client(inDC2, "4002", false)
	if a, b := race(plain1, plain2, "fww-control"); a == b {
		t.Fatalf("plain saves served %s and %s: the datafiles do not disagree, the test shows nothing", a, b)
	}

	first1, first2 := client(inDC1, "4001", true), client(inDC2, "4002", true)
	const users = 25
	wins := map[string]int{}
	for i := range users {
		user := fmt.Sprintf("fww-user-%02d", i)
		a, b := race(first1, first2, user)
		if a != b {
			t.Errorf("%s: dc1 served %s, dc2 served %s", user, a, b)
			continue
		}
		wins[a]++
		var stored string
		if _, err := eventually(30*time.Second, func() error {
			got, ok, err := inDC1.LookupAssignment(ctx, user, experiment)
			if err != nil || !ok {
				return fmt.Errorf("not readable in dc1 yet: %v", err)
			}
			stored = got.VariationID
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if stored != a {
			t.Errorf("%s: both served %s, %s is stored", user, a, stored)
		}
	}
	t.Logf("first writer wins: %d users decided at once in both DCs, one variation each; winners by variation %v", users, wins)
}
