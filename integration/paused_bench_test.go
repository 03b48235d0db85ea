package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/stack"
	"github.com/stickybucket/stickybucket/ups"
)

// BenchmarkDecidePaused measures decisions while Cassandra is frozen
// (docker pause): the stack is built by stack.Open from configuration, as
// `stickybucket serve` builds it, with the defaults — a 50 ms store budget
// per decision and the breaker (5 failures open it for 5 s) — and, in the
// cache=on runs, a read-through cache of 10,000 users in front. Half the
// decisions are for users decided (and saved) before the pause, half for
// new users; callers decisions run at once in each iteration.
//
// Each run pauses the node once, decides for as long as -benchtime says,
// then unpauses it (always, also when the run fails) outside the timing.
// Use a -benchtime longer than the breaker's 5 s, so the runs also show
// the half-open probes:
//
//	go test -run '^$' -bench BenchmarkDecidePaused -benchtime 12s -count 6 ./integration/ | tee paused.txt
//	go run golang.org/x/perf/cmd/benchstat@latest paused.txt
//
// Figures (milliseconds and microseconds of one decision):
//
//	p50-us, p99-us, max-ms   every decision while paused (the open breaker
//	                         fails most in microseconds)
//	waited-max-ms            decisions whose store call ran into the budget
//	                         (before the breaker opened, and its probes)
//	waited-calls             how many of those in the run
//	rejected-p99-us          decisions the open breaker failed at once
//	hit-p99-us               decisions served from the cache, no error
//	load-avg                 the machine's one-minute load average
//
// Every decision must come back with a variation; one whose store call
// failed carries an error wrapping decision.ErrProfileStore, and a cached
// user's decision carries none and serves the saved variation.
func BenchmarkDecidePaused(b *testing.B) {
	if !cass.Managed() {
		b.Skip("CASSANDRA_HOSTS names an existing cluster; this benchmark pauses the container it would start")
	}
	raw, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		b.Fatal(err)
	}
	df, err := decision.ParseDatafile(raw)
	if err != nil {
		b.Fatal(err)
	}
	for _, cache := range []bool{false, true} {
		for _, callers := range []int{1, 16} {
			name := fmt.Sprintf("cache=%s/callers=%d", map[bool]string{false: "off", true: "on"}[cache], callers)
			ks := keyspace(b, fmt.Sprintf("paused_%s_%d", map[bool]string{false: "off", true: "on"}[cache], callers))
			b.Run(name, func(b *testing.B) { benchDecidePaused(b, df, ks, cache, callers) })
		}
	}
}

// pausedFlag is the datafile's flag decided: its one experiment (3003,
// all traffic, no audience) gives every user a variation and a save.
const (
	pausedFlag       = "new_search"
	pausedExperiment = "3003"
	returningUsers   = 500
)

// decisionKind is how a decision met the paused store.
type decisionKind int

const (
	served   decisionKind = iota // no error: the cache answered
	waited                       // the store call ran into the budget
	rejected                     // the open breaker refused the store call
)

func (k decisionKind) String() string { return [...]string{"served", "waited", "rejected"}[k] }

// sample is one decision made while the node was paused.
type sample struct {
	start   time.Duration // since the pause
	latency time.Duration
	kind    decisionKind
}

// pausedConfig is the service's configuration for the test node with the
// defaults of budget and breaker, and a cache when cache is true.
func pausedConfig(b *testing.B, ks string, cache bool) config.Config {
	b.Helper()
	yaml := "environment: bench\nstore:\n  kind: cassandra\n"
	if cache {
		yaml += "  cache: {size: 10000, ttl: 10m}\n"
	} else {
		yaml += "  cache: {size: 0}\n"
	}
	yaml += "environments:\n  bench:\n    replication: {class: SimpleStrategy, replication_factor: 1}\n"
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		b.Fatal(err)
	}
	e := env(b, ks, benchRetention, nil)
	e.SerialConsistency = "SERIAL"
	cfg.Environments["bench"] = e
	cfg.Cassandra.Hosts, cfg.Cassandra.Port = cass.Hosts(), cass.Port()
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	return cfg
}

func benchDecidePaused(b *testing.B, df *decision.Datafile, ks string, cache bool, callers int) {
	ctx := context.Background()
	logHarnessTo(b)
	cfg := pausedConfig(b, ks, cache)
	// gocql warns of every timed-out request while the node is frozen.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := stack.Open(ctx, cfg, stack.Options{Migrate: true, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := st.Close(closeCtx); err != nil {
			b.Errorf("close the stack: %v", err)
		}
	}()
	client, err := st.NewClient(df)
	if err != nil {
		b.Fatal(err)
	}
	budget := cfg.Store.Budget.Fixed.Std()
	if st.Budget != nil {
		budget = st.Budget.Budget() // the ceiling until lookups were seen
	}

	// Prepare the store's statements on this new session without the
	// budget: a node just unpaused by the previous run, on a busy
	// machine, can take longer than 50 ms for a first request.
	warmCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	warm := ups.NewProfile(newUserID())
	warm.Set(pausedExperiment, "warm-up")
	if err := st.Store.Save(warmCtx, warm); err != nil {
		b.Fatal(err)
	}
	if err := st.Ready(warmCtx); err != nil {
		b.Fatal(err)
	}

	// Users with a saved assignment, decided while the node runs (which
	// also fills the cache, when there is one). A decision whose lookup
	// missed the budget saved nothing: it is made again, a few times at
	// most.
	users := make([]string, returningUsers)
	want := map[string]string{}
	for i := range users {
		users[i] = newUserID()
		var (
			d   decision.FlagDecision
			err error
		)
		for range 5 {
			if d, err = client.Decide(ctx, decision.User{ID: users[i]}, pausedFlag); err == nil {
				break
			}
		}
		if err != nil || d.VariationKey == "" {
			b.Fatalf("Decide for %s before the pause = %+v, %v", users[i], d, err)
		}
		want[users[i]] = d.VariationKey
	}
	if _, ok, err := st.Store.(ups.AssignmentLookuper).LookupAssignment(ctx, users[0], pausedExperiment); err != nil || !ok {
		b.Fatalf("assignment of %s not in Cassandra before the pause: %v, %v", users[0], ok, err)
	}

	node := cass.Node(0)
	if err := node.Pause(ctx); err != nil {
		b.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			if err := node.Unpause(context.Background()); err != nil {
				b.Errorf("unpause after a failed run: %v", err)
			}
		}
	}()
	pausedAt := time.Now()

	var (
		mu       sync.Mutex
		samples  []sample
		problems []string
	)
	decide := func(userID string, returning bool) {
		start := time.Now()
		d, err := client.Decide(ctx, decision.User{ID: userID}, pausedFlag)
		lat := time.Since(start)
		s := sample{start: start.Sub(pausedAt), latency: lat}
		var problem string
		switch {
		case err == nil:
			s.kind = served
		case errors.Is(err, ups.ErrCircuitOpen):
			s.kind = rejected
		case errors.Is(err, decision.ErrProfileStore):
			s.kind = waited
		default:
			problem = fmt.Sprintf("Decide(%s): error %v does not wrap ErrProfileStore", userID, err)
		}
		switch {
		case d.VariationKey == "":
			problem = fmt.Sprintf("Decide(%s) = %+v, %v: no variation", userID, d, err)
		case returning && d.VariationKey != want[userID]:
			problem = fmt.Sprintf("Decide(%s) = %s, saved %s", userID, d.VariationKey, want[userID])
		case returning && cache && err != nil:
			problem = fmt.Sprintf("Decide(%s), cached before the pause: %v", userID, err)
		}
		mu.Lock()
		samples = append(samples, s)
		if problem != "" && len(problems) < 10 {
			problems = append(problems, problem)
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for i := 0; b.Loop(); i++ {
		for k := range callers {
			n := i*callers + k
			user, returning := users[(n/2)%len(users)], n%2 == 0
			if !returning {
				user = newUserID()
			}
			if callers == 1 {
				decide(user, returning)
				continue
			}
			wg.Go(func() { decide(user, returning) })
		}
		wg.Wait()
	}
	down := time.Since(pausedAt)
	health := st.Breaker.Health()
	if err := node.Unpause(ctx); err != nil {
		b.Fatal(err)
	}
	paused = false
	if len(problems) > 0 {
		b.Fatalf("%d of %d decisions while paused went wrong, such as:\n\t%s", len(problems), len(samples), strings.Join(problems, "\n\t"))
	}
	reportPaused(b, samples, callers, budget, down, health)
}

// reportPaused reports the latency figures of one run and logs how the
// breaker opened.
func reportPaused(b *testing.B, samples []sample, callers int, budget, down time.Duration, health ups.Health) {
	slices.SortFunc(samples, func(x, y sample) int { return int(x.start - y.start) })
	byKind := map[decisionKind][]time.Duration{}
	all := make([]time.Duration, len(samples))
	for i, s := range samples {
		all[i] = s.latency
		byKind[s.kind] = append(byKind[s.kind], s.latency)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	b.ReportMetric(us(percentile(all, 0.50)), "p50-us")
	b.ReportMetric(us(percentile(all, 0.99)), "p99-us")
	b.ReportMetric(ms(percentile(all, 1)), "max-ms")
	b.ReportMetric(ms(percentile(byKind[waited], 1)), "waited-max-ms")
	b.ReportMetric(float64(len(byKind[waited])), "waited-calls")
	b.ReportMetric(us(percentile(byKind[rejected], 0.99)), "rejected-p99-us")
	if hits := byKind[served]; len(hits) > 0 {
		b.ReportMetric(us(percentile(hits, 0.99)), "hit-p99-us")
	}
	reportLoad(b)

	// The timeline: the decisions that waited, and when the breaker first
	// refused one.
	var lines []string
	firstRejected := -1
	for i, s := range samples {
		if s.kind == rejected && firstRejected < 0 {
			firstRejected = i
			lines = append(lines, fmt.Sprintf("+%s: first refused by the open breaker, in %s", s.start.Round(time.Millisecond), s.latency.Round(time.Microsecond)))
		}
		if s.kind == waited && len(lines) < 40 {
			lines = append(lines, fmt.Sprintf("+%s: waited %s", s.start.Round(time.Millisecond), s.latency.Round(10*time.Microsecond)))
		}
	}
	b.Logf("%d callers, budget %s, node paused %s: %d decisions (%d served by the cache, %d waited for the store, %d refused by the breaker); breaker %s, %d refusals; timeline:\n\t%s",
		callers, budget, down.Round(time.Millisecond), len(samples), len(byKind[served]), len(byKind[waited]), len(byKind[rejected]),
		health.State, health.Rejected, strings.Join(lines, "\n\t"))
}

// percentile returns the q-quantile of ds by the nearest-rank method (q=1
// is the maximum), 0 for none. It sorts ds.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(rank, 0)]
}
