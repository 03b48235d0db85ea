package multidc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/integration/serveproc"
)

// The load of TestRegions: a steady rate, bounded in count and time.
const (
	regionUsers    = 2000
	regionRate     = 150 // decisions per second, open loop
	regionWorkers  = 32  // requests in flight at most
	regionAttrs    = `{"plan":"pro","app_version":"3.2.0","country":"de"}`
	searchExp      = "3003" // search_experiment, the experiment of flag new_search
	regionFaultAt  = 4 * time.Second
	regionV1, regV = "../../examples/datafile-v1.json", "../../examples/datafile-v2.json"
)

// regionConfig is a user's configuration of `stickybucket serve` in
// datacenter dc: the cluster's nodes of that datacenter as contact points,
// the keyspace, its replication and local_dc, and every other key left to
// its default (budget, cache, save mode, breaker, timeouts) — what the
// README's quick start for Cassandra writes.
func regionConfig(t testing.TB, ks, dc, extra string) string {
	t.Helper()
	var hosts []string
	for _, n := range cluster.NodesIn(dc) {
		hosts = append(hosts, n.Addr())
	}
	return serveproc.WriteConfig(t, fmt.Sprintf(`store: {kind: cassandra}
cassandra: {hosts: [%s], port: %d}
environment: prod
environments:
  prod:
    retention: 30d
    keyspace: %s
    replication: {class: NetworkTopologyStrategy, datacenters: {dc1: 3, dc2: 1}}
    local_dc: %s%s
log: {level: info, format: json}
`, strings.Join(hosts, ", "), cluster.Port(), ks, dc, extra))
}

// decided is what one decision served.
type decided struct {
	variation, rule string
	status          int
	err             error
}

// drive decides flag new_search for every user on p at rate per second,
// open loop: request i is due at start + i/rate whatever the earlier ones
// did, and its latency counts from when it was due, so queueing behind a
// slow store shows. At most regionWorkers are in flight. It returns what
// each user got and the latencies in user order. at, when set, runs once
// when the load reaches it (a fault), in its own goroutine.
func drive(t testing.TB, p *serveproc.Process, users []string, options string, at func()) ([]decided, []time.Duration) {
	t.Helper()
	out := make([]decided, len(users))
	lat := make([]time.Duration, len(users))
	slots := make(chan struct{}, regionWorkers)
	var wg sync.WaitGroup
	start := time.Now()
	fired := at == nil
	for i, u := range users {
		due := start.Add(time.Duration(i) * time.Second / regionRate)
		if !fired && time.Since(start) >= regionFaultAt {
			fired = true
			wg.Add(1)
			go func() { defer wg.Done(); at() }()
		}
		time.Sleep(time.Until(due))
		slots <- struct{}{}
		wg.Add(1)
		go func(i int, u string) {
			defer wg.Done()
			defer func() { <-slots }()
			body := fmt.Sprintf(`{"userId":%q,"userAttributes":%s%s}`, u, regionAttrs, options)
			status, b, err := p.Post("/v1/decide?keys=new_search", body)
			lat[i] = time.Since(due)
			d := decided{status: status, err: err}
			if err == nil && status == 200 {
				var r struct{ VariationKey, RuleKey string }
				d.err = json.Unmarshal(b, &r)
				d.variation, d.rule = r.VariationKey, r.RuleKey
			} else if err == nil {
				d.err = fmt.Errorf("status %d: %s", status, b)
			}
			out[i] = d
		}(i, u)
	}
	wg.Wait()
	return out, lat
}

// percentiles formats p50, p99 and the maximum of ds.
func percentiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(f float64) time.Duration { return s[min(len(s)-1, int(f*float64(len(s))))] }
	return fmt.Sprintf("p50 %s, p99 %s, max %s", q(0.50).Round(100*time.Microsecond), q(0.99).Round(100*time.Microsecond), s[len(s)-1].Round(time.Millisecond))
}

// TestRegions runs `stickybucket serve` as a two-region fleet would, on
// the configuration a user writes (only the cluster, keyspace, replication
// and local datacenter; every store setting at its default): process A in
// dc1 on datafile v1, process B in dc2 on datafile v2, which buckets every
// user of flag new_search into the other variation. Thousands of users are
// decided on A at a steady rate, then the same users on B: every one must
// keep A's variation, with no fault, with a dc1 node killed while A
// decides, and with one paused. Every variation A served must be stored
// (none of the acknowledged assignments lost).
func TestRegions(t *testing.T) {
	bin := serveproc.Build(t)
	for _, fault := range []string{"none", "kill", "pause"} {
		t.Run(fault, func(t *testing.T) {
			if fault != "none" && !cluster.Managed() {
				t.Skip("CASSANDRA_HOSTS names an existing cluster; this test kills and pauses nodes it would have started")
			}
			restoreAtEnd(t)
			runRegions(t, bin, fault)
		})
	}
}

func runRegions(t *testing.T, bin, fault string) {
	ks := keyspace(t, "regions_"+fault)
	migrate(t, ks)
	warmUp(t, storeIn(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM"), 100)
	a := serveproc.Start(t, bin, "--config", regionConfig(t, ks, dc1, ""), "--datafile", "k="+regionV1)
	b := serveproc.Start(t, bin, "--config", regionConfig(t, ks, dc2, ""), "--datafile", "k="+regV)

	users := make([]string, regionUsers)
	for i := range users {
		users[i] = fmt.Sprintf("region-%s-%05d", fault, i)
	}
	victim := cluster.NodesIn(dc1)[1]
	var inject func()
	var injected struct {
		sync.Mutex
		at  time.Time
		err error
	}
	record := func(f func(context.Context) error) func() {
		return func() {
			injected.Lock()
			defer injected.Unlock()
			injected.at = time.Now()
			injected.err = f(context.Background())
		}
	}
	switch fault {
	case "kill":
		inject = record(victim.Kill)
	case "pause":
		inject = record(victim.Pause)
	}
	onA, latA := drive(t, a, users, "", inject)
	injected.Lock()
	if injected.err != nil {
		t.Fatalf("%s %s: %v", fault, victim, injected.err)
	}
	injected.Unlock()
	if fault == "pause" {
		// Unpaused once A is done, before B decides: a pause is a stall,
		// not an outage, and B's checks read through dc1 too.
		if err := victim.Unpause(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range onA {
		if d.err != nil || d.rule != "search_experiment" {
			t.Fatalf("A, user %s: %+v (want a decision of search_experiment)", users[i], d)
		}
	}
	withoutA := withoutProfile(t, a)
	if withoutA > 0 {
		_, ready := a.Ready(t)
		t.Logf("A decided %d users without the profile (%s); /ready: %s; store errors: %s",
			withoutA, withoutReasons(t, a), strings.TrimSpace(ready), storeErrors(t, a))
	}

	// Every variation A served is stored: A's async saves and the
	// background writes of its over-budget decisions are done, and
	// readable in dc1 at LOCAL_QUORUM and in dc2 (replication).
	waitPending(t, a)
	inDC1 := storeIn(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
	inDC2 := storeIn(t, ks, dc2, "LOCAL_ONE", "LOCAL_ONE")
	variationIDs := map[string]string{"classic": "4005", "semantic": "4006"}
	var missing []string
	for i, u := range users {
		want := variationIDs[onA[i].variation]
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		got, ok, err := inDC1.LookupAssignment(ctx, u, searchExp)
		cancel()
		if err != nil || !ok || got.VariationID != want {
			missing = append(missing, fmt.Sprintf("%s: served %s, stored %q (%v)", u, want, got.VariationID, err))
		}
	}
	if withoutA > 0 || len(missing) > 0 {
		t.Logf("A's background writes: %s", backgroundWrites(t, a))
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d assignments A served are not stored in dc1 (A: %s, %d decided without the profile: %s): %s",
			len(missing), len(users), percentiles(latA), withoutA, withoutReasons(t, a), strings.Join(missing[:min(5, len(missing))], "; "))
	}
	waited, err := eventually(time.Minute, func() error {
		for i := len(users) - 1; i >= 0; i -= 97 {
			if a, ok, err := inDC2.LookupAssignment(context.Background(), users[i], searchExp); err != nil || !ok || a.VariationID != variationIDs[onA[i].variation] {
				return fmt.Errorf("user %s not yet in dc2: %v", users[i], err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("replication to dc2: %v", err)
	}
	t.Logf("A's assignments sampled in dc2 after %s", waited.Round(time.Millisecond))

	onB, latB := drive(t, b, users, "", nil)
	var changed []string
	for i, d := range onB {
		if d.err != nil {
			t.Fatalf("B, user %s: %v", users[i], d.err)
		}
		if d.variation != onA[i].variation {
			changed = append(changed, fmt.Sprintf("%s: %s then %s", users[i], onA[i].variation, d.variation))
		}
	}
	withoutB := withoutProfile(t, b)
	t.Logf("store lookups (serve's histogram, bucket bounds): A %s; B %s", storeLatency(t, a), storeLatency(t, b))
	// The control: without profiles B moves everyone (v2 swaps the ranges).
	fresh, _ := drive(t, b, users[:200], `,"decideOptions":["IGNORE_USER_PROFILE_SERVICE"]`, nil)
	moved := 0
	for i, d := range fresh {
		if d.variation != onA[i].variation {
			moved++
		}
	}
	t.Logf("fault %s: A %s (%d decided without the profile); B %s (%d without); %d of %d changed; without profiles %d of 200 would have",
		fault, percentiles(latA), withoutA, percentiles(latB), withoutB, len(changed), len(users), moved)
	if moved < 190 {
		t.Fatalf("only %d of 200 users would change without profiles: the test shows nothing", moved)
	}
	if len(changed) > 0 {
		t.Errorf("%d of %d users changed variation from A (dc1, v1) to B (dc2, v2) with fault %q: %s",
			len(changed), len(users), fault, strings.Join(changed[:min(5, len(changed))], "; "))
	}
	for _, p := range []*serveproc.Process{a, b} {
		if code := p.Stop(t, time.Minute); code != 0 {
			t.Errorf("%s: exit status %d after SIGTERM\n%s", p, code, p.Logs())
		}
	}
}

// withoutProfile sums the decisions p made without the user's profile.
func withoutProfile(t testing.TB, p *serveproc.Process) int {
	t.Helper()
	total := 0.0
	for _, reason := range []string{"store_error", "over_budget", "circuit_open"} {
		v, _ := p.Metric(t, fmt.Sprintf(`stickybucket_decisions_without_profile_total{reason=%q}`, reason))
		total += v
	}
	return int(total)
}

// storeLatency reads p's histogram of store lookups and gives the bucket
// bounds under which half and 99% of them finished.
func storeLatency(t testing.TB, p *serveproc.Process) string {
	t.Helper()
	type bucket struct {
		le    float64
		count float64
	}
	var bs []bucket
	for _, line := range strings.Split(p.Metrics(t), "\n") {
		rest, ok := strings.CutPrefix(line, `stickybucket_store_call_duration_seconds_bucket{op="lookup",le="`)
		if !ok {
			continue
		}
		le, count, _ := strings.Cut(rest, `"} `)
		var b bucket
		if _, err := fmt.Sscan(le, &b.le); err != nil {
			b.le = -1 // +Inf
		}
		fmt.Sscan(count, &b.count)
		bs = append(bs, b)
	}
	if len(bs) == 0 || bs[len(bs)-1].count == 0 {
		return "no lookups"
	}
	total := bs[len(bs)-1].count
	q := func(f float64) string {
		for _, b := range bs {
			if b.count >= f*total {
				if b.le < 0 {
					return "more"
				}
				return (time.Duration(b.le * float64(time.Second))).String()
			}
		}
		return "?"
	}
	return fmt.Sprintf("%.0f lookups, p50 ≤ %s, p99 ≤ %s", total, q(0.5), q(0.99))
}

// storeErrors lists p's failed store calls by operation and kind.
func storeErrors(t testing.TB, p *serveproc.Process) string {
	t.Helper()
	var parts []string
	for _, line := range strings.Split(p.Metrics(t), "\n") {
		if strings.HasPrefix(line, "stickybucket_store_errors_total{") {
			parts = append(parts, strings.TrimPrefix(line, "stickybucket_store_errors_total"))
		}
	}
	return strings.Join(parts, ", ")
}

// withoutReasons lists p's decisions without the profile by reason.
func withoutReasons(t testing.TB, p *serveproc.Process) string {
	t.Helper()
	var parts []string
	for _, reason := range []string{"store_error", "over_budget", "circuit_open"} {
		v, _ := p.Metric(t, fmt.Sprintf(`stickybucket_decisions_without_profile_total{reason=%q}`, reason))
		parts = append(parts, fmt.Sprintf("%s %v", reason, v))
	}
	return strings.Join(parts, ", ")
}

// waitPending waits until p has no async save left to write (a process
// with synchronous saves has none).
func waitPending(t testing.TB, p *serveproc.Process) {
	t.Helper()
	if _, err := eventually(2*time.Minute, func() error {
		for _, m := range []string{"stickybucket_async_pending", "stickybucket_background_writes_pending"} {
			if v, ok := p.Metric(t, m); ok && v > 0 {
				return fmt.Errorf("%s %v", m, v)
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

// TestRegionsFirstWriterWins: with first_writer_wins on and every other
// store setting at its default, a server in each datacenter decides the
// same new users at the same moment on datafiles that bucket them apart
// (v1 in dc1, v2 in dc2): each pair of answers agrees, because the loser
// of the conditional write serves the winner's variation.
func TestRegionsFirstWriterWins(t *testing.T) {
	bin := serveproc.Build(t)
	ks := keyspace(t, "regions_fww")
	migrate(t, ks)
	warmUp(t, storeIn(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM"), 100)
	const fww = "\n    first_writer_wins: true"
	a := serveproc.Start(t, bin, "--config", regionConfig(t, ks, dc1, fww), "--datafile", "k="+regionV1)
	b := serveproc.Start(t, bin, "--config", regionConfig(t, ks, dc2, fww), "--datafile", "k="+regV)

	const users = 60
	disagree, lost := 0, 0
	for i := range users {
		u := fmt.Sprintf("fww-user-%03d", i)
		body := fmt.Sprintf(`{"userId":%q,"userAttributes":%s,"decideOptions":["INCLUDE_REASONS"]}`, u, regionAttrs)
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			answers [2]struct {
				VariationKey string
				Reasons      []string
			}
			errs [2]error
		)
		for j, p := range []*serveproc.Process{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				status, raw, err := p.Post("/v1/decide?keys=new_search", body)
				if err == nil && status != 200 {
					err = fmt.Errorf("status %d: %s", status, raw)
				}
				if err == nil {
					err = json.Unmarshal(raw, &answers[j])
				}
				errs[j] = err
			}()
		}
		close(start)
		wg.Wait()
		for j, err := range errs {
			if err != nil {
				t.Fatalf("%s on %s: %v", u, []string{"A", "B"}[j], err)
			}
		}
		if answers[0].VariationKey != answers[1].VariationKey {
			disagree++
			t.Errorf("%s: A (dc1, v1) served %s, B (dc2, v2) served %s; reasons %q / %q", u,
				answers[0].VariationKey, answers[1].VariationKey, answers[0].Reasons, answers[1].Reasons)
		}
		for _, ans := range answers {
			if slices.ContainsFunc(ans.Reasons, func(r string) bool { return strings.Contains(r, "assigned user") && strings.Contains(r, "first") }) {
				lost++
			}
		}
	}
	t.Logf("%d users decided at once in both regions: %d pairs disagreed; %d decisions lost the race and served the winner", users, disagree, lost)
	if lost == 0 {
		t.Fatal("no decision lost a race: the test shows nothing")
	}
}

// backgroundWrites describes p's background writes by result.
func backgroundWrites(t testing.TB, p *serveproc.Process) string {
	t.Helper()
	var parts []string
	for _, r := range []string{"written", "failed", "skipped"} {
		v, _ := p.Metric(t, fmt.Sprintf(`stickybucket_background_writes_total{result=%q}`, r))
		parts = append(parts, fmt.Sprintf("%s %v", r, v))
	}
	return strings.Join(parts, ", ")
}
