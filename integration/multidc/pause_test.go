package multidc

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestPausedNode freezes one of dc1's nodes with docker pause while saves
// run at LOCAL_QUORUM: its sockets stay open and nothing answers, as in a
// long GC pause. Two replicas of three still acknowledge every write, and
// gocql moves on to the next replica when an attempt on the frozen
// coordinator times out, so saves given time for the driver's retries
// slow down but keep succeeding (on two overloaded cores one save in 238
// still failed with gocql's client timeout, so 2% may fail). After the
// node is unpaused, every acknowledged save is readable.
func TestPausedNode(t *testing.T) {
	if !cluster.Managed() {
		t.Skip("CASSANDRA_HOSTS names an existing cluster; this test pauses a node it would have started")
	}
	restoreAtEnd(t)
	ks := keyspace(t, "pause")
	s := storeIn(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
	warmUp(t, s, 100)
	victim := cluster.NodesIn(dc1)[2]
	users := make([][]saved, 4)
	for g := range users {
		users[g] = make([]saved, 300)
		for i := range users[g] {
			users[g][i] = saved{fmt.Sprintf("pause-%d-%03d", g, i), []string{"4001", "4002"}[i%2]}
		}
	}
	// A save may wait out gocql's 5s timeout on the frozen coordinator and
	// then be retried on another replica, up to twice (cassandra.NewCluster's
	// retry policy): it is given all three attempts.
	attempts, pause := runLoad(t, s, users, 80, 15*time.Second, 3*time.Second, 20*time.Second, victim.Pause)
	var acked []saved
	var failed []attempt
	for _, a := range attempts {
		if a.err == nil {
			acked = append(acked, a.saved)
		} else {
			failed = append(failed, a)
		}
	}
	report := loadReport(attempts, failed, pause, "paused")
	t.Logf("load from %d goroutines: %s", len(users), report)
	if len(failed) > len(attempts)/50 {
		t.Errorf("%d of %d saves failed with one of three dc1 replicas paused, more than 2%%: %s", len(failed), len(attempts), report)
	}
	if !slices.ContainsFunc(attempts, func(a attempt) bool { return a.err == nil && a.at > pause.end+5*time.Second }) {
		t.Errorf("no save succeeded from 5s after the pause on: %s", report)
	}

	ctx := context.Background()
	began := time.Now()
	if err := victim.Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("unpaused %s: seen alive again after %s", victim, since(began))
	if problems := checkAll(ctx, s, acked); len(problems) > 0 {
		t.Fatalf("%d of %d acknowledged saves not readable at LOCAL_QUORUM after the pause: %s", len(problems), len(acked), summary(problems))
	}
}
