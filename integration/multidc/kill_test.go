package multidc

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/integration/testcluster"
	"github.com/stickybucket/stickybucket/ups"
)

// The load of TestNodeKill: bounded in time and in count.
const (
	killWriters = 12                // goroutines saving
	killRate    = 240               // saves per second, all writers together
	killRun     = 20 * time.Second  // how long the writers run
	killAt      = 6 * time.Second   // when the dc1 node is killed
	killMax     = killRate * 25     // most saves in all, whatever the clock
	saveTimeout = 10 * time.Second  // per save; gocql's own timeout is 5s per attempt
	experiment  = "3001"            // checkout_button in examples/datafile-v1.json
	expKey      = "checkout_button" // its key
	dataFile    = "../../examples/datafile-v1.json"
	checkers    = 16 // goroutines reading back
)

// saved is one assignment the store acknowledged.
type saved struct{ user, variation string }

// window is when a fault was injected, since the load began: from the call
// to its return (for a kill, until the container had exited).
type window struct{ begin, end time.Duration }

// attempt is the outcome of one save of the load.
type attempt struct {
	saved
	at   time.Duration // since the load began
	took time.Duration
	err  error
}

// TestNodeKill kills one of dc1's three nodes with SIGKILL while saves run
// through a dc1 store at LOCAL_QUORUM, and checks that nothing the store
// acknowledged is lost: every such save is readable at LOCAL_QUORUM in dc1
// with the node still down and at LOCAL_ONE in dc2; decisions keep working
// for known and new users; after the node is started again the same store
// (same session) keeps working, the hints are delivered, and the restarted
// node holds, on its own, every save made while it was down.
func TestNodeKill(t *testing.T) {
	if !cluster.Managed() {
		t.Skip("CASSANDRA_HOSTS names an existing cluster; this test kills a node it would have started")
	}
	restoreAtEnd(t)
	ctx := context.Background()
	ks := keyspace(t, "kill")
	inDC1 := storeIn(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
	inDC2 := storeIn(t, ks, dc2, "LOCAL_ONE", "LOCAL_ONE")
	df := datafile(t)
	sticky, err := decision.NewClient(decision.Options{Datafile: df, Profiles: inDC1})
	if err != nil {
		t.Fatal(err)
	}
	warmUp(t, inDC1, 300)

	// Each user is saved with the variation bucketing would NOT give it,
	// so a decision that returns the saved one has read it from Cassandra.
	victim := cluster.NodesIn(dc1)[1]
	users := make([][]saved, killWriters)
	for g := range users {
		users[g] = make([]saved, killMax/killWriters)
		for i := range users[g] {
			user := fmt.Sprintf("kill-%d-%05d", g, i)
			users[g][i] = saved{user, otherVariation(t, sticky, user)}
		}
	}
	attempts, kill := runLoad(t, inDC1, users, killRate, killRun, killAt, saveTimeout, victim.Kill)

	// Saves begun once the victim was dead can only reach it through hints;
	// saves begun earlier it may have acknowledged itself.
	var (
		acked, mustHave []saved
		ackedBefore     []attempt
		failed          []attempt
	)
	for _, a := range attempts {
		switch {
		case a.err != nil:
			failed = append(failed, a)
		case a.at >= kill.end:
			acked = append(acked, a.saved)
			mustHave = append(mustHave, a.saved)
		default:
			acked = append(acked, a.saved)
			ackedBefore = append(ackedBefore, a)
		}
	}
	report := loadReport(attempts, failed, kill, "killed")
	t.Logf("load from %d goroutines: %s", killWriters, report)
	if len(failed) > len(attempts)/50 {
		t.Errorf("%d of %d saves failed, more than 2%%: %s", len(failed), len(attempts), report)
	}
	if !slices.ContainsFunc(attempts, func(a attempt) bool { return a.err == nil && a.at > kill.end+5*time.Second }) {
		t.Fatalf("no save succeeded from 5s after the kill on: %s", report)
	}

	// With the node still down: every acknowledged save at LOCAL_QUORUM in dc1.
	began := time.Now()
	if problems := checkAll(ctx, inDC1, acked); len(problems) > 0 {
		t.Fatalf("with %s down, %d of %d acknowledged saves are not readable at LOCAL_QUORUM in dc1: %s",
			victim, len(problems), len(acked), summary(problems))
	}
	t.Logf("node down: all %d acknowledged saves read back at LOCAL_QUORUM in dc1 in %s", len(acked), since(began))

	// Decisions keep working, sticky for known users, saved for new ones.
	known, fresh := decideWhileDown(t, sticky, acked)
	acked = append(acked, fresh...)
	mustHave = append(mustHave, fresh...)
	t.Logf("node down: %d known users got their saved variation, %d new users were decided and saved", known, len(fresh))

	// dc2 has one replica, written by dc1's coordinators in the background.
	took, problems := settle(ctx, inDC2, acked, 2*time.Minute)
	if len(problems) > 0 {
		t.Fatalf("%d of %d acknowledged saves not readable at LOCAL_ONE in dc2 after %s: %s",
			len(problems), len(acked), took, summary(problems))
	}
	t.Logf("node down: all %d saves readable at LOCAL_ONE in dc2 after %s", len(acked), took)

	// The coordinators kept hints for the dead node.
	var held []string
	if took, err := eventually(30*time.Second, func() error {
		hs, err := cluster.PendingHints(ctx)
		if err != nil {
			return err
		}
		held = held[:0]
		for _, h := range hs {
			if h.Target == victim.Addr() && (h.Files > 0 || h.Queued > 0) {
				held = append(held, h.String())
			}
		}
		if len(held) == 0 {
			return fmt.Errorf("no node holds hints for %s: %v", victim, hs)
		}
		return nil
	}); err != nil {
		t.Fatalf("after %s: %v", took, err)
	}
	t.Logf("node down: %s", strings.Join(held, "; "))

	// Recovery: start the node; the same store keeps working.
	began = time.Now()
	if err := victim.Start(ctx); err != nil {
		t.Fatal(err)
	}
	back := since(began)
	hintsCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := cluster.WaitHintsDelivered(hintsCtx); err != nil {
		t.Fatal(err)
	}
	delivered := since(began)
	after := make([]saved, 200)
	for i := range after {
		after[i] = saved{fmt.Sprintf("kill-after-%03d", i), []string{"4001", "4002"}[i%2]}
		p := ups.NewProfile(after[i].user)
		p.Set(experiment, after[i].variation)
		sctx, cancel := context.WithTimeout(ctx, saveTimeout)
		err := inDC1.Save(sctx, p)
		cancel()
		if err != nil {
			t.Fatalf("save %d after the restart, same store: %v", i, err)
		}
	}
	if problems := checkAll(ctx, inDC1, after); len(problems) > 0 {
		t.Fatalf("after the restart, the same store: %s", summary(problems))
	}
	t.Logf("recovery: %s answered CQL and was seen alive %s after docker start; hints delivered %s after it; "+
		"the same store then saved and read back %d users", victim, back, delivered, len(after))

	// The restarted node holds every save made while it was down: with the
	// other two dc1 nodes stopped, it alone answers LOCAL_ONE reads in dc1.
	checkAlone(t, victim, ks, append(mustHave, after...), ackedBefore, kill)
}

// runLoad saves users[g] from goroutine g, each goroutine at its share of
// rate (saves per second) and each save within perSave, for run at most;
// injects fault faultAt after the start; and returns every attempt in the
// order they began, and when the fault was injected.
func runLoad(t *testing.T, s ups.Service, users [][]saved, rate int, run, faultAt, perSave time.Duration,
	fault func(context.Context) error) ([]attempt, window) {
	t.Helper()
	interval := time.Duration(len(users)) * time.Second / time.Duration(rate)
	start := time.Now()
	stop := make(chan struct{})
	results := make([][]attempt, len(users))
	var wg sync.WaitGroup
	for g := range users {
		wg.Go(func() {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for _, u := range users[g] {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				a := attempt{saved: u, at: time.Since(start)}
				p := ups.NewProfile(u.user)
				p.Set(experiment, u.variation)
				ctx, cancel := context.WithTimeout(context.Background(), perSave)
				a.err = s.Save(ctx, p)
				cancel()
				a.took = time.Since(start) - a.at
				results[g] = append(results[g], a)
			}
		})
	}
	time.Sleep(faultAt)
	var w window
	w.begin = time.Since(start)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := fault(ctx)
	cancel()
	w.end = time.Since(start)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	time.Sleep(run - time.Since(start))
	close(stop)
	wg.Wait()
	var all []attempt
	for _, r := range results {
		all = append(all, r...)
	}
	slices.SortFunc(all, func(a, b attempt) int { return int(a.at - b.at) })
	return all, w
}

// loadReport summarises the load: counts, rate, failures around the
// fault, the slowest acknowledged save and the distinct errors.
func loadReport(all, failed []attempt, w window, fault string) string {
	var before, near, later int
	errs := map[string]int{}
	for _, a := range failed {
		switch {
		case a.at < w.begin:
			before++
		case a.at < w.end+2*time.Second:
			near++
		default:
			later++
		}
		msg := a.err.Error()
		if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "cassandra: save user") {
			msg = msg[i+2:] // drop the user ID, keep the cause
		}
		errs[msg]++
	}
	var slowest attempt
	for _, a := range all {
		if a.err == nil && a.took > slowest.took {
			slowest = a
		}
	}
	var elapsed time.Duration
	if len(all) > 0 {
		elapsed = all[len(all)-1].at
	}
	var causes []string
	for msg, n := range errs {
		causes = append(causes, fmt.Sprintf("%dx %s", n, msg))
	}
	slices.Sort(causes)
	return fmt.Sprintf("%d saves in %s (%.0f/s); node %s at %s-%s; %d failed "+
		"(%d before, %d within 2s after, %d later); slowest acknowledged save %s, begun at %s; errors: [%s]",
		len(all), elapsed.Round(100*time.Millisecond), float64(len(all))/elapsed.Seconds(),
		fault, w.begin.Round(10*time.Millisecond), w.end.Round(10*time.Millisecond), len(failed), before, near, later,
		slowest.took.Round(time.Millisecond), slowest.at.Round(100*time.Millisecond), strings.Join(causes, "; "))
}

// decideWhileDown decides checkout_button for up to 300 users in acked,
// who must get their saved variation (which bucketing would not give
// them), and for 300 new users, whose decisions the client saves. It
// returns how many known users were checked and the new users' saves.
func decideWhileDown(t *testing.T, c *decision.Client, acked []saved) (int, []saved) {
	t.Helper()
	ctx := context.Background()
	step := max(1, len(acked)/300)
	known := 0
	for i := 0; i < len(acked); i += step {
		d, err := c.DecideExperiment(ctx, decision.User{ID: acked[i].user}, expKey)
		if err != nil {
			t.Fatalf("decide for known user %s with a node down: %v", acked[i].user, err)
		}
		if d.VariationID != acked[i].variation {
			t.Fatalf("known user %s got variation %q, saved %q: the saved assignment was not read", acked[i].user, d.VariationID, acked[i].variation)
		}
		known++
	}
	fresh := make([]saved, 300)
	for i := range fresh {
		user := fmt.Sprintf("kill-new-%03d", i)
		d, err := c.DecideExperiment(ctx, decision.User{ID: user}, expKey)
		if err != nil {
			t.Fatalf("decide for new user %s with a node down: %v", user, err)
		}
		if d.VariationID == "" {
			t.Fatalf("new user %s got no variation", user)
		}
		fresh[i] = saved{user, d.VariationID}
	}
	return known, fresh
}

// checkAll looks every saved assignment up through s (checkers at a time,
// three attempts each on errors) and describes each one that is missing,
// different or unreadable.
func checkAll(ctx context.Context, s ups.Service, want []saved) []string {
	work := make(chan saved)
	var (
		mu       sync.Mutex
		problems []string
		wg       sync.WaitGroup
	)
	for range checkers {
		wg.Go(func() {
			for w := range work {
				if p := check(ctx, s, w); p != "" {
					mu.Lock()
					problems = append(problems, p)
					mu.Unlock()
				}
			}
		})
	}
	for _, w := range want {
		work <- w
	}
	close(work)
	wg.Wait()
	slices.Sort(problems)
	return problems
}

func check(ctx context.Context, s ups.Service, w saved) string {
	var err error
	for range 3 {
		lctx, cancel := context.WithTimeout(ctx, saveTimeout)
		var p ups.Profile
		p, err = s.Lookup(lctx, w.user)
		cancel()
		if err != nil {
			continue
		}
		if got, _ := p.Variation(experiment); got != w.variation {
			return fmt.Sprintf("%s: variation %q, want %q", w.user, got, w.variation)
		}
		return ""
	}
	return fmt.Sprintf("%s: %v", w.user, err)
}

// settle re-checks the saves that are not readable through s yet until
// all are or limit passes, and returns how long that took and what was
// still wrong.
func settle(ctx context.Context, s ups.Service, want []saved, limit time.Duration) (time.Duration, []string) {
	began := time.Now()
	pending := want
	for {
		problems := checkAll(ctx, s, pending)
		if len(problems) == 0 || time.Since(began) > limit {
			return since(began), problems
		}
		bad := map[string]bool{}
		for _, p := range problems {
			bad[p[:strings.Index(p, ":")]] = true
		}
		pending = slices.DeleteFunc(slices.Clone(pending), func(w saved) bool { return !bad[w.user] })
		time.Sleep(time.Second)
	}
}

// checkAlone stops dc1's other nodes and reads saves at LOCAL_ONE with
// victim as the coordinator, so that victim's own replica answers each
// read, then starts the other nodes again. Every save in mustHave was made
// while victim was dead and reached it through hints: all must be there.
// The saves in before were begun before victim died. A few of them, in
// flight at the kill, can be acknowledged by the two other replicas and
// never reach victim, with no hint kept anywhere (for instance when victim
// itself coordinated the save and died before applying its own copy):
// hints do not cover them, LOCAL_QUORUM reads and repair do. The test
// reports how many victim lacks and when they began.
func checkAlone(t *testing.T, victim *testcluster.Node, ks string, mustHave []saved, before []attempt, kill window) {
	t.Helper()
	ctx := context.Background()
	var others []*testcluster.Node
	for _, n := range cluster.NodesIn(dc1) {
		if n != victim {
			others = append(others, n)
		}
	}
	for _, n := range others {
		if err := n.Stop(ctx); err != nil {
			t.Fatal(err)
		}
	}
	session, err := victim.ClusterConfig().CreateSession()
	if err != nil {
		t.Fatalf("connect to %s alone: %v", victim, err)
	}
	alone := storeOn(t, session, env(t, ks, dc1, "LOCAL_ONE", "LOCAL_ONE"))
	began := time.Now()
	problems := checkAll(ctx, alone, mustHave)
	beforeSaved := make([]saved, len(before))
	at := map[string]time.Duration{}
	for i, a := range before {
		beforeSaved[i] = a.saved
		at[a.user] = a.at
	}
	lost := checkAll(ctx, alone, beforeSaved)
	took := since(began)
	session.Close()
	for _, n := range others {
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(problems) > 0 {
		t.Fatalf("%s alone (the other dc1 nodes stopped) lacks %d of the %d saves made while it was down: hints were not all delivered: %s",
			victim, len(problems), len(mustHave), summary(problems))
	}
	t.Logf("hinted data: with the other dc1 nodes stopped, %s alone served all %d saves made while it was down, at LOCAL_ONE in %s",
		victim, len(mustHave), took)
	if len(lost) == 0 {
		t.Logf("%s also holds all %d saves begun before it was killed", victim, len(before))
		return
	}
	var begun []string
	for _, p := range lost {
		user := p[:strings.Index(p, ":")]
		begun = append(begun, fmt.Sprintf("%+.2fs", (at[user]-kill.begin).Seconds()))
	}
	t.Logf("%s lacks %d of the %d saves begun before it was killed (begun at %s relative to the kill; "+
		"the other replicas serve them): %s", victim, len(lost), len(before), strings.Join(begun, " "), summary(lost))
}

// summary shows the first few problems and how many there were.
func summary(problems []string) string {
	const most = 5
	if len(problems) <= most {
		return strings.Join(problems, "; ")
	}
	return strings.Join(problems[:most], "; ") + fmt.Sprintf("; and %d more", len(problems)-most)
}

// otherVariation returns the checkout_button variation that bucketing
// does not give user.
func otherVariation(t testing.TB, c *decision.Client, user string) string {
	t.Helper()
	d, err := c.DecideExperiment(context.Background(), decision.User{ID: user}, expKey, decision.IgnoreUserProfileService)
	if err != nil || d.VariationID == "" {
		t.Fatalf("bucket %s: %+v, %v", user, d, err)
	}
	if d.VariationID == "4001" {
		return "4002"
	}
	return "4001"
}

func datafile(t testing.TB) *decision.Datafile {
	t.Helper()
	data, err := os.ReadFile(dataFile)
	if err != nil {
		t.Fatal(err)
	}
	df, err := decision.ParseDatafile(data)
	if err != nil {
		t.Fatalf("parse %s: %v", dataFile, err)
	}
	return df
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }
