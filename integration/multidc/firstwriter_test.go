package multidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
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
	race := func(a, b *decision.Client, user string) (string, string, error) {
		var (
			wg         sync.WaitGroup
			va, vb     string
			errA, errB error
		)
		lookedUp.Add(2)
		start := make(chan struct{})
		for _, side := range []struct {
			c   *decision.Client
			out *string
			err *error
		}{{a, &va, &errA}, {b, &vb, &errB}} {
			wg.Go(func() {
				<-start
				d, err := side.c.DecideExperiment(ctx, decision.User{ID: user}, expKey)
				*side.out, *side.err = d.VariationID, err
			})
		}
		close(start)
		wg.Wait()
		return va, vb, errors.Join(errA, errB)
	}

	// Control: with plain saves each region serves its own bucketing.
	plain1, plain2 := client(inDC1, "4001", false), client(inDC2, "4002", false)
	if a, b, err := race(plain1, plain2, "fww-control"); err != nil || a == b {
		t.Fatalf("plain saves served %s and %s (%v): the datafiles do not disagree, the test shows nothing", a, b, err)
	}

	first1, first2 := client(inDC1, "4001", true), client(inDC2, "4002", true)
	const users = 25
	// A Paxos round two coordinators contend for can time out on this
	// machine, and so can the serial read that resolves it (1 of 25 races
	// in a CI run, on the freshly started cluster): the decision then says
	// its assignment may not be sticky, as documented, and that race
	// proves nothing. More than two such races fail the test, as in
	// TestFirstWriterWinsReplacementsAcrossDatacenters.
	wins, timedOut := map[string]int{}, 0
	for i := range users {
		user := fmt.Sprintf("fww-user-%02d", i)
		a, b, err := race(first1, first2, user)
		if err != nil {
			if !ups.TimedOut(err) {
				t.Fatalf("%s: %v", user, err)
			}
			timedOut++
			t.Logf("%s: a conditional write timed out: %v", user, err)
			continue
		}
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
	t.Logf("first writer wins: %d users decided at once in both DCs, one variation each; winners by variation %v; %d races timed out", users-timedOut, wins, timedOut)
	if timedOut > 2 {
		t.Errorf("%d of %d races timed out", timedOut, users)
	}
}

// TestFirstWriterWinsReplacementsAcrossDatacenters: a server in dc1 and
// one in dc2 replace the same users' assignments at the same moment, on
// datafiles that bucket them into different variations: users whose saved
// variation left the experiment, and users saved before an experiment
// reset (dc1 re-decides them into the variation they had, so only the
// decision time tells its write from the one both read). With first
// writer wins (conditional replacements at SERIAL) both serve one
// variation per user, the one stored; with plain saves they serve their
// own.
func TestFirstWriterWinsReplacementsAcrossDatacenters(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "first_writer_replacing")
	inDC1 := storeIn(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
	inDC2 := storeIn(t, ks, dc2, "LOCAL_QUORUM", "LOCAL_QUORUM")
	warmUp(t, inDC1, 20)
	warmUp(t, inDC2, 20)
	decided := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	resets := map[string]decision.Reset{experiment: {Before: decided.Add(time.Minute)}}
	lookedUp := &sync.WaitGroup{}
	client := func(store *cassandra.Store, variationID string, first bool) *decision.Client {
		c, err := decision.NewClient(decision.Options{Datafile: datafileServing(t, variationID), Profiles: barrier{store, lookedUp}, FirstWriterWins: first, Resets: resets})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// saved stores the user's assignment as both servers will read it.
	saved := func(user, variationID string) {
		p := ups.NewProfile(user)
		p.Assignments[experiment] = ups.Assignment{VariationID: variationID, DecidedAt: decided}
		if err := inDC1.Save(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := eventually(30*time.Second, func() error {
			a, ok, err := inDC2.LookupAssignment(ctx, user, experiment)
			if err != nil || !ok || a.VariationID != variationID {
				return fmt.Errorf("not readable in dc2 yet: %+v %v %v", a, ok, err)
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", user, err)
		}
	}
	type served struct {
		variation string
		changed   bool  // the reasons say another server changed it
		err       error // a store error the decision returned
	}
	race := func(a, b *decision.Client, user string) [2]served {
		var (
			wg  sync.WaitGroup
			out [2]served
		)
		lookedUp.Add(2)
		start := make(chan struct{})
		for i, c := range []*decision.Client{a, b} {
			wg.Go(func() {
				<-start
				d, err := c.DecideExperiment(ctx, decision.User{ID: user}, expKey, decision.IncludeReasons)
				out[i].err = err
				out[i].variation = d.VariationID
				out[i].changed = slices.ContainsFunc(d.Reasons, func(r string) bool { return strings.Contains(r, "Another server changed") })
			})
		}
		close(start)
		wg.Wait()
		return out
	}

	// Control: with plain saves each region serves its own bucketing.
	saved("fwwr-control", "4999")
	if got := race(client(inDC1, "4001", false), client(inDC2, "4002", false), "fwwr-control"); got[0].variation == got[1].variation {
		t.Fatalf("plain saves served %v: the datafiles do not disagree, the test shows nothing", got)
	}

	first1, first2 := client(inDC1, "4001", true), client(inDC2, "4002", true)
	const users = 15
	// A Paxos round that two coordinators contend for can time out on
	// this machine (a cluster and two servers on two shared cores; 1 of 90
	// races over three runs): the decision then says its assignment may
	// not be sticky, as documented, and that race proves nothing. More
	// than two such races fail the test.
	wins, lost, timedOut := map[string]int{}, 0, 0
	for _, kind := range []struct{ name, saved string }{{"gone", "4999"}, {"reset", "4001"}} {
		for i := range users {
			user := fmt.Sprintf("fwwr-%s-%02d", kind.name, i)
			saved(user, kind.saved)
			got := race(first1, first2, user)
			if err := errors.Join(got[0].err, got[1].err); err != nil {
				if !ups.TimedOut(err) {
					t.Fatalf("%s: %v", user, err)
				}
				timedOut++
				t.Logf("%s: a conditional write timed out: %v", user, err)
				continue
			}
			if got[0].variation != got[1].variation {
				t.Errorf("%s: dc1 served %s, dc2 served %s", user, got[0].variation, got[1].variation)
				continue
			}
			wins[kind.name+":"+got[0].variation]++
			losers := 0
			for _, s := range got {
				if s.changed {
					losers++
				}
			}
			if losers != 1 {
				t.Errorf("%s: %d sides say another server changed the assignment first, want exactly one", user, losers)
			}
			lost += losers
			var stored string
			if _, err := eventually(30*time.Second, func() error {
				a, ok, err := inDC1.LookupAssignment(ctx, user, experiment)
				if err != nil || !ok || !a.DecidedAt.After(decided) {
					return fmt.Errorf("the replacement is not readable in dc1 yet: %+v %v %v", a, ok, err)
				}
				stored = a.VariationID
				return nil
			}); err != nil {
				t.Fatalf("%s: %v", user, err)
			}
			if stored != got[0].variation {
				t.Errorf("%s: both served %s, %s is stored", user, got[0].variation, stored)
			}
		}
	}
	t.Logf("first writer wins for replacements: %d users replaced at once in both DCs, one variation each; winners %v; %d decisions lost and served the winner; %d races timed out", 2*users-timedOut, wins, lost, timedOut)
	if timedOut > 2 {
		t.Errorf("%d of %d races timed out", timedOut, 2*users)
	}
}
