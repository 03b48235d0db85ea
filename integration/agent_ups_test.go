package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/integration/serveproc"
)

// Optimizely Agent, built from source, with its `rest` user profile
// service plugin pointed at `stickybucket serve` on Cassandra: Agent
// unchanged, only its configuration (agentConfig).

// agentRetention is serve's retention in these tests, so the TTLs Cassandra
// reports can be told from the 1h serveConfig writes.
const (
	agentRetention    = 30 * 24 * time.Hour
	agentRetentionEnv = "30d"
)

// startSticky starts serve on a keyspace of its own, migrated, with an API
// token and agentRetention, and the store's defaults (async saves: wait
// with flushed before reading Cassandra). extraEnv are STICKYBUCKET_*
// overrides for this process, by name.
func startSticky(t *testing.T, bin, purpose string, extraEnv map[string]string) *sticky {
	t.Helper()
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(raw)
	ks := keyspace(t, purpose)
	// serveConfig writes the environment with a 1h retention; the
	// environment variable overrides it, as in a deployment. serve
	// inherits the test's environment when it starts.
	t.Setenv("STICKYBUCKET_RETENTION", agentRetentionEnv)
	for k, v := range extraEnv {
		t.Setenv(k, v)
	}
	cfg := serveConfig(t, ks, fmt.Sprintf("store: {kind: cassandra, budget: 2s}\nserver: {tokens: [%q]}", token))
	p := startServe(t, bin, "--config", cfg, "--migrate", "--datafile", "k="+datafileCopy(t, "datafile-v1.json"))
	return &sticky{serveProcess: p, ks: ks, token: token}
}

func (s *sticky) rest() *restUPS { return &restUPS{host: s.API, token: s.token} }

// flushed waits until serve has written every save it accepted (its saves
// are async, the default with Cassandra), so Cassandra can be checked.
func (s *sticky) flushed(t *testing.T) {
	t.Helper()
	waitFor(t, 30*time.Second, "serve's pending saves written", func() bool { return s.metric(t, "stickybucket_async_pending") == 0 })
}

// Serve's counters of the /v1/ups routes.
const (
	upsLookupsOK   = `stickybucket_http_requests_total{code="200",route="ups_lookup"}`
	upsSavesOK     = `stickybucket_http_requests_total{code="200",route="ups_save"}`
	entriesWritten = `stickybucket_sdk_save_entries_total{result="written"}`
	entriesSame    = `stickybucket_sdk_save_entries_total{result="unchanged"}`
)

// TestAgentOnStickybucket: Agents whose rest plugin points at one
// stickybucket keep users sticky across a datafile change, share one
// user's assignments, read their profiles from it, and write only what
// changed; the caveat of a failed lookup and the latency cost are shown.
func TestAgentOnStickybucket(t *testing.T) {
	agentBin := agentBinary(t)
	sbBin := serveproc.Build(t)
	df := startDatafileServer(t, "v1", "v2")
	sb := startSticky(t, sbBin, "agent_ups", nil)
	// A was deployed with datafile revision 1, B after the change to 2.
	a := startAgent(t, agentBin, "A", df, "v1", sb.rest())
	b := startAgent(t, agentBin, "B", df, "v2", sb.rest())
	expID, ids := variationIDs(t, "search_experiment")
	other := func(key string) string {
		for k := range ids {
			if k != key {
				return k
			}
		}
		t.Fatalf("search_experiment has no variation besides %s", key)
		return ""
	}

	t.Run("StickyAcrossDatafileChange", func(t *testing.T) {
		const n = 300
		users := make([]string, n)
		onA := map[string]agentDecision{}
		split := map[string]int{}
		lookups, saves := sb.metric(t, upsLookupsOK), sb.metric(t, upsSavesOK)
		start := time.Now()
		for i := range users {
			users[i] = fmt.Sprintf("agent-sticky-%03d", i)
			onA[users[i]] = a.mustDecide(t, users[i])
			split[onA[users[i]].VariationKey]++
		}
		if got, want := sb.metric(t, upsLookupsOK)-lookups, float64(n); got != want {
			t.Errorf("A's %d first decisions made %v lookups on serve, want %v", n, got, want)
		}
		if got, want := sb.metric(t, upsSavesOK)-saves, float64(n); got != want {
			t.Errorf("A's %d first decisions made %v saves on serve, want %v", n, got, want)
		}

		// Once serve's async saves are written, every assignment is in
		// Cassandra, with the retention as TTL.
		sb.flushed(t)
		maxTTL := int(agentRetention / time.Second)
		minTTL := maxTTL - int(time.Since(start)/time.Second) - 2
		lo, hi := maxTTL, 0
		for _, u := range users {
			rows := storedRows(t, sb.ks, u)
			r, ok := rows[expID]
			if len(rows) != 1 || !ok || r.variation != ids[onA[u].VariationKey] {
				t.Fatalf("%s: Cassandra holds %+v, want %s -> %s (%s)", u, rows, expID, ids[onA[u].VariationKey], onA[u])
			}
			if r.ttl < minTTL || r.ttl > maxTTL {
				t.Errorf("%s: TTL %d s, want %d..%d (retention %s)", u, r.ttl, minTTL, maxTTL, agentRetentionEnv)
			}
			lo, hi = min(lo, r.ttl), max(hi, r.ttl)
		}

		// B decides the same users with datafile v2: each keeps A's
		// variation. Without profiles (the control, on B itself) each
		// user's v2 bucketing is compared with A's v1 bucketing.
		lookups, saves = sb.metric(t, upsLookupsOK), sb.metric(t, upsSavesOK)
		movers := 0
		for _, u := range users {
			if got := b.mustDecide(t, u); got != onA[u] {
				t.Errorf("%s: %s on B (datafile v2), %s on A (v1) before", u, got, onA[u])
			}
			if fresh := b.mustDecide(t, u, "IGNORE_USER_PROFILE_SERVICE"); fresh != onA[u] {
				movers++
			}
		}
		if got, want := sb.metric(t, upsLookupsOK)-lookups, float64(n); got != want {
			t.Errorf("B's %d decisions (and %d without profiles) made %v lookups on serve, want %v", n, n, got, want)
		}
		if got := sb.metric(t, upsSavesOK) - saves; got != 0 {
			t.Errorf("B saved %v profiles for users who all had one; want none", got)
		}
		if movers == 0 {
			t.Fatal("no user would change variation under datafile v2 without profiles: the test shows nothing")
		}
		t.Logf("%d users (v1: %v); %d of %d would have changed variation on datafile v2 without profiles, all %d kept A's; TTLs %d..%d s (retention %d s)",
			n, split, movers, n, n, lo, hi, maxTTL)
	})

	t.Run("TwoAgentsShareOneUser", func(t *testing.T) {
		for i := range 3 {
			u := fmt.Sprintf("agent-shared-%d", i)
			x := a.mustDecide(t, u)
			if got := b.mustDecide(t, u); got != x {
				t.Fatalf("%s: B serves %s, A assigned %s", u, got, x)
			}
			mustCall(t, http.StatusNoContent, http.MethodDelete, sb.API+"/v1/profiles/"+u, sb.auth(), "")
			for _, ag := range []*agentProcess{a, b} {
				if p := ag.lookup(t, u); len(p) != 0 {
					t.Fatalf("%s: agent %s looks up %v after the delete on serve", u, ag.name, p)
				}
			}
			if rows := storedRows(t, sb.ks, u); len(rows) != 0 {
				t.Fatalf("%s: Cassandra still holds %+v after the delete", u, rows)
			}
			// Both bucket afresh: B by datafile v2, and A then serves B's
			// new assignment rather than its own v1 bucketing.
			v2 := b.mustDecide(t, u, "IGNORE_USER_PROFILE_SERVICE")
			if v2 == x {
				t.Fatalf("%s: datafile v2 buckets %s as v1 did: the test shows nothing", u, v2)
			}
			if got := b.mustDecide(t, u); got != v2 {
				t.Errorf("%s after the delete: B serves %s, want v2's %s", u, got, v2)
			}
			if got := a.mustDecide(t, u); got != v2 {
				t.Errorf("%s after the delete: A serves %s, want B's new assignment %s (A's own bucketing: %s)", u, got, v2, x)
			}
			sb.flushed(t)
			if got := storedRows(t, sb.ks, u)[expID].variation; got != ids[v2.VariationKey] {
				t.Errorf("%s after the delete: Cassandra holds %q, want %s", u, got, ids[v2.VariationKey])
			}
		}
	})

	t.Run("AgentLookupReadsStickybucket", func(t *testing.T) {
		chkID, chk := variationIDs(t, "checkout_button")
		u := "agent-lookup-user"
		own := a.mustDecide(t, u, "IGNORE_USER_PROFILE_SERVICE") // Agent's bucketing; nothing saved
		stored := other(own.VariationKey)
		body := fmt.Sprintf(`{"user_id":%q,"experiment_bucket_map":{%q:{"variation_id":%q},%q:{"variation_id":%q}}}`,
			u, expID, ids[stored], chkID, chk["green"])
		if got := string(mustCall(t, http.StatusOK, http.MethodPost, sb.API+"/v1/ups/save", sb.auth(), body)); got != `{"written":2,"unchanged":0,"lost":0}`+"\n" {
			t.Errorf("save on serve: %s", got)
		}
		want := map[string]string{expID: ids[stored], chkID: chk["green"]}
		for _, ag := range []*agentProcess{a, b} {
			if got := ag.lookup(t, u); !maps.Equal(got, want) {
				t.Errorf("agent %s /v1/lookup %s: %v, want stickybucket's %v", ag.name, u, got, want)
			}
		}
		if got := a.mustDecide(t, u); got.VariationKey != stored {
			t.Errorf("%s: A serves %s, want stickybucket's %s (A's own bucketing: %s)", u, got, stored, own)
		}
		if got := a.lookup(t, "agent-nobody"); len(got) != 0 {
			t.Errorf("agent /v1/lookup of an unknown user: %v, want an empty map", got)
		}

		// Agent's own /v1/save goes through the plugin too.
		v := "agent-saved-user"
		mustCall(t, http.StatusOK, http.MethodPost, a.api+"/v1/save", agentHeader,
			fmt.Sprintf(`{"userId":%q,"experimentBucketMap":{%q:{"variation_id":%q}}}`, v, chkID, chk["control"]))
		if got, want := sb.profile(t, v), map[string]string{chkID: chk["control"]}; !maps.Equal(got, want) {
			t.Errorf("after Agent's /v1/save: stickybucket holds %v, want %v", got, want)
		}
	})

	t.Run("AgentSavesWriteOnlyWhatChanged", func(t *testing.T) {
		chkID, _ := variationIDs(t, "checkout_button")
		u := "agent-partial-user"
		a.mustDecide(t, u)
		sb.flushed(t)
		before := storedRows(t, sb.ks, u)
		written, same := sb.metric(t, entriesWritten), sb.metric(t, entriesSame)
		// Activating another experiment makes Agent save the whole profile:
		// the new entry and the unchanged one.
		a.activate(t, u)
		sb.flushed(t)
		after := storedRows(t, sb.ks, u)
		if _, ok := after[chkID]; !ok || len(after) != 2 {
			t.Fatalf("%s after activate: Cassandra holds %+v, want %s and %s", u, after, expID, chkID)
		}
		if after[expID].writetimeMicro != before[expID].writetimeMicro {
			t.Errorf("%s: the unchanged %s entry was rewritten (write time %d, then %d)", u, expID, before[expID].writetimeMicro, after[expID].writetimeMicro)
		}
		if dw, ds := sb.metric(t, entriesWritten)-written, sb.metric(t, entriesSame)-same; dw != 1 || ds != 1 {
			t.Errorf("Agent's whole-profile save: %v entries written, %v unchanged; want 1 and 1", dw, ds)
		}
	})

	t.Run("FailedLookupReplacesStickyVariation", func(t *testing.T) {
		// The caveat: Agent's plugin cannot report errors. Through a proxy
		// that fails every lookup (503) and passes saves, Agent C decides
		// as if the user had no profile and saves that decision, which
		// replaces the sticky variation.
		target, err := url.Parse(sb.API)
		if err != nil {
			t.Fatal(err)
		}
		forward := httputil.NewSingleHostReverseProxy(target)
		var failed atomic.Bool
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v1/ups/lookup" {
				failed.Store(true)
				http.Error(w, `{"error":"store unavailable"}`, http.StatusServiceUnavailable)
				return
			}
			forward.ServeHTTP(w, r)
		}))
		t.Cleanup(proxy.Close)
		c := startAgent(t, agentBin, "C", df, "v2", &restUPS{host: proxy.URL, token: sb.token})

		u := "agent-outage-user"
		x := a.mustDecide(t, u)
		got := c.mustDecide(t, u)
		if !failed.Load() {
			t.Fatal("agent C did not look the user up through the proxy")
		}
		if got == x {
			t.Fatalf("%s: C kept %s without its lookup: the test shows nothing", u, x)
		}
		sb.flushed(t)
		if stored := storedRows(t, sb.ks, u)[expID].variation; stored != ids[got.VariationKey] {
			t.Fatalf("%s: Cassandra holds %q after C's save, want C's %s (%s)", u, stored, ids[got.VariationKey], got)
		}
		if now := a.mustDecide(t, u); now != got {
			t.Fatalf("%s: A serves %s, want the replacement %s", u, now, got)
		}
		t.Logf("%s: assigned %s through A; C's lookup failed, it decided %s and its save replaced the assignment; A now serves %s", u, x, got, got)

		// A savePath with ?only_new=true makes every save of that Agent
		// write only experiments stickybucket holds nothing for: the same
		// failure then leaves the sticky variation alone.
		e := startAgent(t, agentBin, "E", df, "v2", &restUPS{host: proxy.URL, token: sb.token, savePath: "/v1/ups/save?only_new=true"})
		w := "agent-outage-user-only-new"
		x = a.mustDecide(t, w)
		if got := e.mustDecide(t, w); got == x {
			t.Fatalf("%s: E kept %s without its lookup: the test shows nothing", w, x)
		}
		sb.flushed(t)
		if stored := storedRows(t, sb.ks, w)[expID].variation; stored != ids[x.VariationKey] {
			t.Errorf("%s: Cassandra holds %q after E's only_new save, want A's %s", w, stored, ids[x.VariationKey])
		}
		if now := a.mustDecide(t, w); now != x {
			t.Errorf("%s: A serves %s, want its sticky %s", w, now, x)
		}
	})

	t.Run("DecideLatency", func(t *testing.T) {
		m := startAgent(t, agentBin, "M", df, "v1", nil) // Agent's in-memory profile service
		const n = 500
		users := make([]string, n)
		for i := range users {
			users[i] = fmt.Sprintf("agent-latency-%03d", i)
		}
		for i := range 20 { // warm-up: connections, datafile, code paths
			a.mustDecide(t, fmt.Sprintf("agent-warmup-%d", i))
			m.mustDecide(t, fmt.Sprintf("agent-warmup-%d", i))
		}
		targets := []*agentProcess{a, m}
		// One client, the two Agents alternating per user so noise hits
		// both: first decisions (lookup and save), then returning users
		// (lookup only).
		for _, phase := range []string{"first decision", "returning user"} {
			lat := map[*agentProcess][]time.Duration{}
			lookups, saves := sb.routeTime(t, "ups_lookup"), sb.routeTime(t, "ups_save")
			for i, u := range users {
				var ds []agentDecision
				for j := range targets {
					ag := targets[(i+j)%2]
					start := time.Now()
					d := ag.mustDecide(t, u)
					lat[ag] = append(lat[ag], time.Since(start))
					ds = append(ds, d)
				}
				if ds[0] != ds[1] {
					t.Fatalf("%s: the two Agents disagree on datafile v1: %v", u, ds)
				}
			}
			for _, ag := range targets {
				t.Logf("%s, %s: %s", phase, describeAgent(ag, a), summarize(lat[ag]))
			}
			t.Logf("%s, serve's own time: lookups %s; saves %s", phase,
				sb.routeTime(t, "ups_lookup").since(lookups), sb.routeTime(t, "ups_save").since(saves))
		}
		// Eight concurrent clients, returning users, each Agent in turn
		// twice.
		lat := map[*agentProcess][]time.Duration{}
		elapsed := map[*agentProcess]time.Duration{}
		for round := range 2 {
			for j := range targets {
				ag := targets[(round+j)%2]
				d, took := concurrentDecisions(t, ag, users, 8)
				lat[ag] = append(lat[ag], d...)
				elapsed[ag] += took
			}
		}
		for _, ag := range targets {
			t.Logf("returning user, 8 clients: %s: %s, %.0f decisions/s", describeAgent(ag, a), summarize(lat[ag]), float64(len(lat[ag]))/elapsed[ag].Seconds())
		}
	})

	// Every request Agent made to serve was accepted: no 4xx or 5xx.
	for _, route := range []string{"ups_lookup", "ups_save"} {
		for _, code := range []int{400, 401, 413, 415, 500, 503} {
			name := fmt.Sprintf(`stickybucket_http_requests_total{code="%d",route=%q}`, code, route)
			if v := sb.metric(t, name); v != 0 {
				t.Errorf("serve answered %v requests of Agent's plugin with %d on %s\n%s", v, code, route, sb.Logs())
			}
		}
	}
}

// TestAgentSlidingRetention: Agent saves a profile only when it decides
// something new, so for a returning user serve's lookup is what slides the
// retention (refresh_after): an assignment due is written again, keeping
// its decision time, though Agent saved nothing.
func TestAgentSlidingRetention(t *testing.T) {
	agentBin := agentBinary(t)
	sbBin := serveproc.Build(t)
	df := startDatafileServer(t, "v1")
	// Due for a refresh once less than retention − 3 s remains.
	sb := startSticky(t, sbBin, "agent_refresh", map[string]string{"STICKYBUCKET_REFRESH_AFTER": (agentRetention - 3*time.Second).String()})
	a := startAgent(t, agentBin, "A", df, "v1", sb.rest())
	expID, _ := variationIDs(t, "search_experiment")
	full := int(agentRetention / time.Second)

	u := "agent-sliding-user"
	first := a.mustDecide(t, u)
	// serve's saves are async: a row not written yet reads as TTL 0, which
	// must not pass for one that is due.
	sb.flushed(t)
	waitFor(t, 15*time.Second, "the assignment due for a refresh", func() bool {
		r, ok := storedRows(t, sb.ks, u)[expID]
		return ok && r.ttl <= full-4
	})
	due := storedRows(t, sb.ks, u)[expID]
	saves := sb.metric(t, upsSavesOK)
	if got := a.mustDecide(t, u); got != first {
		t.Fatalf("%s: %s, then %s", u, first, got)
	}
	if got := sb.metric(t, upsSavesOK) - saves; got != 0 {
		t.Errorf("Agent saved %v profiles for a returning user; want none", got)
	}
	// Agent only looked the user up: the lookup refreshed the assignment.
	waitFor(t, 15*time.Second, "the returning decision's lookup to refresh the assignment", func() bool {
		now := storedRows(t, sb.ks, u)[expID]
		return now.writetimeMicro != due.writetimeMicro && now.ttl >= full-2
	})
	now := storedRows(t, sb.ks, u)[expID]
	t.Logf("%s: TTL %d s when due, %d s after a returning decision (a lookup, no save)", u, due.ttl, now.ttl)
}

// routeSample is serve's request duration histogram of one route so far.
type routeSample struct{ sum, count float64 }

func (s *sticky) routeTime(t *testing.T, route string) routeSample {
	t.Helper()
	return routeSample{
		sum:   s.metric(t, fmt.Sprintf(`stickybucket_http_request_duration_seconds_sum{route=%q}`, route)),
		count: s.metric(t, fmt.Sprintf(`stickybucket_http_request_duration_seconds_count{route=%q}`, route)),
	}
}

// since describes the requests between an earlier sample and r.
func (r routeSample) since(before routeSample) string {
	n := r.count - before.count
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("n=%.0f mean %.2f ms", n, (r.sum-before.sum)/n*1000)
}

func describeAgent(ag, rest *agentProcess) string {
	if ag == rest {
		return "Agent, rest plugin on stickybucket (Cassandra)"
	}
	return "Agent, in-memory profile service"
}

// summarize gives the percentiles of a latency sample.
func summarize(lat []time.Duration) string {
	s := slices.Clone(lat)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
	return fmt.Sprintf("n=%d p50 %s p90 %s p99 %s max %s mean %s", len(s),
		ms(percentile(s, .50)), ms(percentile(s, .90)), ms(percentile(s, .99)), ms(s[len(s)-1]), ms(sum/time.Duration(len(s))))
}

// concurrentDecisions decides every user once on ag with the given number
// of clients and returns each decision's latency and the time it all took.
func concurrentDecisions(t *testing.T, ag *agentProcess, users []string, clients int) ([]time.Duration, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	next := make(chan string)
	go func() {
		defer close(next)
		for _, u := range users {
			select {
			case next <- u:
			case <-ctx.Done():
				return
			}
		}
	}()
	var (
		mu    sync.Mutex
		lat   []time.Duration
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for u := range next {
				s := time.Now()
				_, err := ag.decide(ctx, u)
				d := time.Since(s)
				mu.Lock()
				if err != nil && first == nil {
					first = err
					cancel()
				}
				lat = append(lat, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if first != nil {
		t.Fatal(first)
	}
	return lat, took
}
