package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fasthttp"
)

// Config describes one run. Zero values of Clients, Users, Rounds,
// Duration, MaxRequests and Timeout take the defaults below; a zero Warmup
// means no warm-up.
type Config struct {
	Targets []Target
	// Flag is the one flag key every decide request decides (required when
	// a target's route is decide); SDKKey goes in the X-Optimizely-SDK-Key
	// header (required for the decide and lookup routes, sent on every
	// route when given).
	Flag   string
	SDKKey string
	// SaveProfile is the experiment_bucket_map every ups-save request
	// sends (default DefaultSaveProfile).
	SaveProfile json.RawMessage
	// Clients is the number of concurrent clients per target, each with its
	// own keep-alive connection (default 16). With a Rate it bounds the
	// requests in flight.
	Clients int
	// Rate, when positive, sends requests at this many per second per target
	// whatever the answers (the open loop: see schedule), with latencies
	// counted from each request's intended send time; 0 is the closed loop,
	// each client sending its next request when it has the last answer.
	Rate float64
	// Users is the size of the user pool (default 5000); Attributes, if
	// any, gives each user one value per attribute; Seed fixes the values
	// and every client's sequence of users.
	Users      int
	Attributes map[string][]any
	Seed       uint64
	// Rounds is how many times each target is measured, in turn (A, B, A,
	// B, …; default 3).
	Rounds int
	// Duration bounds each measured round of each target (default 10 s);
	// MaxRequests bounds its requests (default 2,000,000), whichever comes
	// first. Warm-up phases have the same request bound.
	Duration    time.Duration
	MaxRequests int64
	// Warmup is unmeasured load on a target right before each of its
	// measured rounds: connections are open and caches warm when
	// measurement starts.
	Warmup time.Duration
	// Timeout bounds each request, response body included (default 5 s).
	Timeout time.Duration
	// PIDs optionally names each target's server process (by target name),
	// so its CPU time during the measured rounds is reported (Linux only).
	PIDs map[string]int
}

// Defaults of Config.
const (
	DefaultClients     = 16
	DefaultUsers       = 5000
	DefaultRounds      = 3
	DefaultDuration    = 10 * time.Second
	DefaultMaxRequests = 2_000_000
	DefaultTimeout     = 5 * time.Second
)

// maxResponseBody bounds the size of a response; a longer one is a
// transport error.
const maxResponseBody = 1 << 20

// Histogram range: 1 µs resolution floor, 3 significant digits, values in
// nanoseconds up to histogramMax (longer latencies are recorded as that).
const (
	histogramMin    = int64(time.Microsecond)
	histogramMax    = int64(time.Minute)
	histogramDigits = 3
)

func (c Config) withDefaults() Config {
	if c.Clients == 0 {
		c.Clients = DefaultClients
	}
	if c.Users == 0 {
		c.Users = DefaultUsers
	}
	if c.Rounds == 0 {
		c.Rounds = DefaultRounds
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.MaxRequests == 0 {
		c.MaxRequests = DefaultMaxRequests
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	return c
}

func (c Config) validate() error {
	var errs []error
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("no target"))
	}
	seen := map[string]bool{}
	for _, t := range c.Targets {
		if seen[t.Name] {
			errs = append(errs, fmt.Errorf("target name %q given twice", t.Name))
		}
		seen[t.Name] = true
		if t.URL == nil {
			errs = append(errs, fmt.Errorf("target %q: no URL", t.Name))
		} else if err := checkLoopbackHost(t.URL.Hostname()); err != nil {
			errs = append(errs, fmt.Errorf("target %q: %w", t.Name, err))
		}
	}
	for _, t := range c.Targets {
		if !slices.Contains(routes, t.Route.orDefault()) {
			errs = append(errs, fmt.Errorf("target %q: route %q: want one of %s", t.Name, t.Route, routeNames()))
		}
	}
	if c.Flag == "" && slices.ContainsFunc(c.Targets, func(t Target) bool { return t.Route.orDefault() == RouteDecide }) {
		errs = append(errs, errors.New("no flag key (the decide route needs one)"))
	}
	if c.SDKKey == "" && slices.ContainsFunc(c.Targets, func(t Target) bool { return t.Route.needsSDKKey() }) {
		errs = append(errs, errors.New("no SDK key (the decide and lookup routes need one)"))
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate %v: want a finite number of requests per second, or 0 for the closed loop", c.Rate))
	}
	if c.Clients < 0 || c.Users < 0 || c.Rounds < 0 || c.MaxRequests < 0 {
		errs = append(errs, fmt.Errorf("clients %d, users %d, rounds %d, max requests %d: none may be negative",
			c.Clients, c.Users, c.Rounds, c.MaxRequests))
	}
	for name, pid := range c.PIDs {
		if !seen[name] || pid <= 0 {
			errs = append(errs, fmt.Errorf("process %d of target %q: want a positive pid of a target", pid, name))
		}
	}
	if c.Duration < 0 || c.Warmup < 0 || c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("duration %v, warm-up %v, timeout %v: none may be negative", c.Duration, c.Warmup, c.Timeout))
	}
	return errors.Join(errs...)
}

// Run measures every target of cfg in alternating rounds and reports what
// it measured. Every goroutine it starts has ended and every connection is
// closed when it returns (fasthttp's idle-connection cleaner, which holds
// none, may sleep up to 10 s more before it sees that and ends). When ctx
// ends early, the report holds what was measured so far, Interrupted is set
// and the error is ctx's. An error with a nil report means nothing was
// measured: the configuration is wrong or a target failed its first
// request.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	pool, err := newUserPool(cfg.Users, cfg.Attributes, cfg.Seed)
	if err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	rep := &Report{StartedAt: time.Now().UTC(), Setup: setupOf(cfg), Machine: machineInfo()}
	targets := make([]*targetState, len(cfg.Targets))
	for i, t := range cfg.Targets {
		if targets[i], err = newTargetState(cfg, t, pool); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, ts := range targets {
			if ts != nil {
				ts.close()
			}
		}
	}()
	for _, ts := range targets {
		if err := ts.probe(ctx); err != nil {
			return nil, err
		}
	}
	width := 12
	for _, t := range cfg.Targets {
		width = max(width, len(t.Name))
	}
	var runErr error
rounds:
	for round := 1; round <= cfg.Rounds; round++ {
		for _, ts := range targets {
			if cfg.Warmup > 0 {
				warm := ts.phase(ctx, cfg, cfg.Warmup)
				ts.warmup.add(&warm.tally)
			}
			if ctx.Err() != nil {
				runErr = ctx.Err()
				break rounds
			}
			before := sampleCPU(ts.pid)
			m := ts.phase(ctx, cfg, cfg.Duration)
			after := sampleCPU(ts.pid)
			// Its connections would idle while the other targets run, and
			// a server may close idle ones: the next warm-up opens fresh ones.
			ts.client.CloseIdleConnections()
			rr := ts.addRound(round, m, before, after)
			open := ""
			if o := rr.OpenLoop; o != nil {
				open = fmt.Sprintf("  late %d, unsent %d", o.Late, o.Unsent)
			}
			fmt.Fprintf(progress, "round %d/%d %-*s %9.0f req/s  p50 %7.3f ms  p99 %7.3f ms  errors %d%s  cores: machine %.2f, driver %.2f, target %.2f (%.1f µs/request)\n",
				round, cfg.Rounds, width, ts.Name, rr.RequestsPerSecond, rr.P50MS, rr.P99MS, rr.Errors, open,
				rr.Load.MachineBusyCores, rr.Load.DriverCores, rr.Load.TargetCores, rr.Load.TargetCPUPerRequestUS)
			if ctx.Err() != nil {
				runErr = ctx.Err()
				break rounds
			}
		}
	}
	rep.FinishedAt = time.Now().UTC()
	rep.Interrupted = runErr != nil
	for _, ts := range targets {
		rep.Targets = append(rep.Targets, ts.report())
	}
	return rep, runErr
}

// targetState is one target's client side and what has been measured.
type targetState struct {
	Target
	pid     int    // the server's process, or 0
	url     string // the route's URL
	bodies  [][]byte
	client  *fasthttp.HostClient
	conns   connSet
	workers []*worker

	total   *hdrhistogram.Histogram // every measured round
	delay   *hdrhistogram.Histogram // open loop: intended time to sending, every measured round
	tally   tally                   // every measured round
	warmup  tally                   // every warm-up phase
	rounds  []RoundReport
	elapsed time.Duration
	cpu     cpuDelta // every measured round
}

func newTargetState(cfg Config, t Target, pool *userPool) (*targetState, error) {
	t.Route = t.Route.orDefault()
	ts := &targetState{Target: t, pid: cfg.PIDs[t.Name], total: newHistogram(), delay: newHistogram()}
	var err error
	if ts.bodies, err = t.Route.bodies(pool, cfg.SaveProfile); err != nil {
		return nil, fmt.Errorf("target %q: %w", t.Name, err)
	}
	u := *t.URL
	path, query, _ := strings.Cut(t.Route.path(cfg.Flag), "?")
	u.Path = joinPath(u.Path, path)
	u.RawQuery = query
	ts.url = u.String()
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, Control: loopbackOnly}
	ts.client = &fasthttp.HostClient{
		Addr: addr,
		Name: "stickybucket-loadbench",
		Dial: func(addr string) (net.Conn, error) {
			c, err := dialer.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			return ts.conns.add(c)
		},
		MaxConns:           cfg.Clients,
		MaxConnWaitTimeout: cfg.Timeout,
		// Connections are busy during a phase and closed after it; this
		// also bounds how long fasthttp's cleaner goroutine outlives Run.
		MaxIdleConnDuration: 10 * time.Second,
		ReadTimeout:         cfg.Timeout,
		WriteTimeout:        cfg.Timeout,
		MaxResponseBodySize: maxResponseBody,
		// Never resend: every request the server may have seen is counted
		// once, as what it got.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		DisablePathNormalizing:    true,
	}
	for i := range cfg.Clients {
		w := &worker{
			ts:      ts,
			bodies:  ts.bodies,
			ids:     pool.ids,
			check:   newChecker(t.Route, cfg.Flag),
			timeout: cfg.Timeout,
			// Each client draws its own deterministic sequence of users.
			rng:       rand.New(rand.NewPCG(cfg.Seed, uint64(i)+1)),
			hist:      newHistogram(),
			sendDelay: newHistogram(),
			req:       new(fasthttp.Request),
			resp:      new(fasthttp.Response),
		}
		w.req.SetRequestURI(ts.url)
		w.req.Header.SetMethod(fasthttp.MethodPost)
		w.req.Header.SetContentType("application/json")
		w.req.Header.Set("Accept", "application/json")
		if cfg.SDKKey != "" {
			w.req.Header.Set("X-Optimizely-SDK-Key", cfg.SDKKey)
		}
		ts.workers = append(ts.workers, w)
	}
	return ts, nil
}

// close drops every connection of the target.
func (ts *targetState) close() {
	ts.client.CloseIdleConnections()
	ts.conns.closeAll()
}

// connSet tracks a target's open connections, so an interrupted run can cut
// off the requests in flight (the HTTP client takes no context) and so the
// driver can count the connections it opened.
type connSet struct {
	mu     sync.Mutex
	open   map[*trackedConn]struct{}
	dialed int64
	// shut refuses new connections: set by closeAll, so that a connection
	// being dialed while the others are closed does not outlive them.
	shut bool
}

// errShut is the dial error after closeAll.
var errShut = errors.New("connections closed: the run is ending")

type trackedConn struct {
	net.Conn
	set  *connSet
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.set.mu.Lock()
		delete(c.set.open, c)
		c.set.mu.Unlock()
	})
	return c.Conn.Close()
}

// add tracks a new connection, or closes it if the set is shut.
func (s *connSet) add(c net.Conn) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dialed++
	if s.shut {
		c.Close()
		return nil, errShut
	}
	tc := &trackedConn{Conn: c, set: s}
	if s.open == nil {
		s.open = map[*trackedConn]struct{}{}
	}
	s.open[tc] = struct{}{}
	return tc, nil
}

func (s *connSet) dials() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialed
}

// reopen lets new connections be made again after closeAll.
func (s *connSet) reopen() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shut = false
}

// closeAll closes every connection and refuses new ones until reopen.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.shut = true
	conns := make([]*trackedConn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func joinPath(base, p string) string {
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	return base + p
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(histogramMin, histogramMax, histogramDigits)
}

// probe makes one request and fails unless it gets an answer its route's
// check accepts: a target that is not ready or answers something else is
// not measured.
func (ts *targetState) probe(ctx context.Context) error {
	res := ts.workers[0].do(ctx, 0)
	if res.kind != outcomeOK {
		return fmt.Errorf("target %q (%s): first request, for user %s, failed: %s", ts.Name, ts.url, userID(0), res.detail)
	}
	return nil
}

// phaseResult is what all clients of one phase did.
type phaseResult struct {
	tally   tally
	hist    *hdrhistogram.Histogram
	delay   *hdrhistogram.Histogram // open loop: intended time to sending
	elapsed time.Duration
	dials   int64
}

// phase loads the target with every client until d has passed,
// cfg.MaxRequests requests have been issued or ctx ends, and waits for
// every client's last request. With cfg.Rate, the clients send on the
// open loop's schedule (cfg.Rate × d requests at most). When ctx ends, the
// requests in flight are cut off by closing their connections.
func (ts *targetState) phase(ctx context.Context, cfg Config, d time.Duration) phaseResult {
	// A backstop: each request has its own timeout, so this only fires if
	// something hangs outside one.
	ctx, cancel := context.WithTimeout(ctx, d+cfg.Timeout+time.Second)
	defer cancel()
	var g gate
	g.max = cfg.MaxRequests
	stopTimer := time.AfterFunc(d, g.close)
	defer stopTimer.Stop()
	stopOnCancel := context.AfterFunc(ctx, func() {
		g.close()
		ts.conns.closeAll()
	})
	defer stopOnCancel()

	ts.conns.reopen()
	dials := ts.conns.dials()
	var sched *schedule
	if cfg.Rate > 0 {
		// An interrupt closes the gate; the schedule's clients stop at
		// its deadline or when their requests fail.
		sched = newSchedule(realClock{}, cfg.Rate, d, cfg.MaxRequests)
		stopSchedule := context.AfterFunc(ctx, func() { sched.next.Store(sched.n) })
		defer stopSchedule()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range ts.workers {
		w.reset()
		if sched != nil {
			wg.Go(func() { w.openLoop(sched, func(user int) result { return w.do(ctx, user) }) })
		} else {
			wg.Go(func() { w.loop(ctx, &g) })
		}
	}
	wg.Wait()
	res := phaseResult{elapsed: time.Since(start), hist: newHistogram(), delay: newHistogram(), dials: ts.conns.dials() - dials}
	for _, w := range ts.workers {
		res.tally.add(&w.tally)
		res.hist.Merge(w.hist)
		res.delay.Merge(w.sendDelay)
	}
	if sched != nil {
		res.tally.open.scheduled = sched.n
		res.tally.open.unsent = sched.unsent()
	}
	return res
}

// gate admits requests until it is closed or max have been admitted.
type gate struct {
	closed atomic.Bool
	issued atomic.Int64
	max    int64
}

func (g *gate) close() { g.closed.Store(true) }

func (g *gate) admit() bool {
	return !g.closed.Load() && g.issued.Add(1) <= g.max
}

func (ts *targetState) addRound(round int, m phaseResult, before, after cpuSample) RoundReport {
	ts.tally.add(&m.tally)
	ts.total.Merge(m.hist)
	ts.delay.Merge(m.delay)
	ts.elapsed += m.elapsed
	cpu := before.to(after)
	ts.cpu.add(cpu)
	rr := RoundReport{
		Round:             round,
		Requests:          m.tally.requests(),
		OK:                m.tally.ok,
		Errors:            m.tally.errors(),
		ElapsedSeconds:    m.elapsed.Seconds(),
		Connections:       m.dials,
		P50MS:             ms(m.hist.ValueAtPercentile(50)),
		P99MS:             ms(m.hist.ValueAtPercentile(99)),
		MaxMS:             ms(maxOf(m.hist)),
		Load:              cpu.loadPer(m.tally.ok),
		RequestsPerSecond: perSecond(m.tally.ok, m.elapsed),
		OpenLoop:          openLoopReport(m.tally.open, m.tally.errors(), m.delay),
	}
	ts.rounds = append(ts.rounds, rr)
	return rr
}

// worker is one client: it sends one request at a time over its own
// keep-alive connection and keeps its own counts and histograms, so
// clients share nothing but the gate (or the open loop's schedule).
type worker struct {
	ts        *targetState
	bodies    [][]byte // the target's request body per user
	ids       []string // the user IDs, for the checks
	check     *checker
	timeout   time.Duration
	rng       *rand.Rand
	hist      *hdrhistogram.Histogram
	sendDelay *hdrhistogram.Histogram // open loop: intended time to sending
	req       *fasthttp.Request       // URL and headers set once; the body changes
	resp      *fasthttp.Response
	tally
}

func (w *worker) reset() {
	w.tally = tally{}
	w.hist.Reset()
	w.sendDelay.Reset()
}

// loop is the closed loop: the next request goes as soon as the last one
// is answered, while the gate admits it.
func (w *worker) loop(ctx context.Context, g *gate) {
	for g.admit() {
		res := w.do(ctx, w.rng.IntN(len(w.bodies)))
		w.count(res)
	}
}

// outcome classifies one request.
type outcome uint8

const (
	outcomeOK        outcome = iota
	outcomeNon2xx            // the server answered with another status
	outcomeTransport         // no complete response: refused, reset, timed out
	outcomeBad               // 2xx, but not what the route answers
	outcomeCanceled          // cut off by the end of the run, not the server's fault
)

type result struct {
	kind      outcome
	latency   time.Duration
	status    int
	variation string // the answer's label (see checker.check)
	detail    string // what went wrong, for the first few errors
}

// do sends the request of user i and reads the whole response. ctx only
// tells a request cut off by the run's end from a failed one; cutting off
// is phase's job.
func (w *worker) do(ctx context.Context, i int) result {
	w.req.SetBodyRaw(w.bodies[i])
	w.resp.Reset()
	start := time.Now()
	err := w.ts.client.DoTimeout(w.req, w.resp, w.timeout)
	latency := time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			return result{kind: outcomeCanceled, detail: err.Error()}
		}
		return result{kind: outcomeTransport, detail: err.Error()}
	}
	status := w.resp.StatusCode()
	body := w.resp.Body()
	if status < 200 || status > 299 {
		return result{kind: outcomeNon2xx, latency: latency, status: status,
			detail: fmt.Sprintf("HTTP %d: %s", status, snippet(body))}
	}
	label, problem := w.check.check(body, w.ids[i])
	if problem != "" {
		return result{kind: outcomeBad, latency: latency, status: status, detail: problem}
	}
	return result{kind: outcomeOK, latency: latency, status: status, variation: label}
}

func (w *worker) count(res result) {
	switch res.kind {
	case outcomeOK:
		w.ok++
		recordNS(w.hist, res.latency)
		if w.variations == nil {
			w.variations = map[string]int64{}
		}
		w.variations[res.variation]++
		return
	case outcomeNon2xx:
		w.non2xx++
		if w.status == nil {
			w.status = map[int]int64{}
		}
		w.status[res.status]++
	case outcomeTransport:
		w.transport++
	case outcomeBad:
		w.bad++
	case outcomeCanceled:
		w.canceled++
		return
	}
	w.note(res.detail)
}

func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// tally counts the outcomes of requests.
type tally struct {
	ok, non2xx, transport, bad, canceled int64
	status                               map[int]int64
	variations                           map[string]int64
	samples                              []string // the first few distinct error details
	open                                 openTally
}

const maxSamples = 5

func (t *tally) note(detail string) {
	if len(t.samples) >= maxSamples {
		return
	}
	for _, s := range t.samples {
		if s == detail {
			return
		}
	}
	t.samples = append(t.samples, detail)
}

func (t *tally) add(o *tally) {
	t.ok += o.ok
	t.non2xx += o.non2xx
	t.transport += o.transport
	t.bad += o.bad
	t.canceled += o.canceled
	for k, v := range o.status {
		if t.status == nil {
			t.status = map[int]int64{}
		}
		t.status[k] += v
	}
	for k, v := range o.variations {
		if t.variations == nil {
			t.variations = map[string]int64{}
		}
		t.variations[k] += v
	}
	for _, s := range o.samples {
		t.note(s)
	}
	t.open.add(&o.open)
}

// requests counts the requests that got an answer or failed for the
// server's sake; canceled ones are left out.
func (t *tally) requests() int64 { return t.ok + t.errors() }

func (t *tally) errors() int64 { return t.non2xx + t.transport + t.bad }
