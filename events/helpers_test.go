package events

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told to. Waits* block until
// the processor's goroutines reach a point, so a test never sleeps to
// order them.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	tickers []*fakeTicker
	afters  []fakeAfter
	changed chan struct{} // closed (and replaced) at every registration
}

type fakeTicker struct {
	every time.Duration
	next  time.Time
	ch    chan time.Time
}

type fakeAfter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTicker{every: d, next: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.tickers = append(c.tickers, t)
	c.notify()
	return t.ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.tickers {
			if x == t {
				c.tickers = append(c.tickers[:i], c.tickers[i+1:]...)
				return
			}
		}
	}
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.afters = append(c.afters, fakeAfter{at: c.now.Add(d), ch: ch})
	c.notify()
	return ch
}

// notify wakes the waiters; c.mu is held.
func (c *fakeClock) notify() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Advance moves the clock, firing the tickers and timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.tickers {
		for !t.next.After(c.now) {
			select {
			case t.ch <- t.next:
			default: // a tick nobody took is dropped, as time.Ticker does
			}
			t.next = t.next.Add(t.every)
		}
	}
	kept := c.afters[:0]
	for _, a := range c.afters {
		if a.at.After(c.now) {
			kept = append(kept, a)
		} else {
			a.ch <- c.now
		}
	}
	c.afters = kept
}

// waitUntil blocks until cond holds (checked under c.mu at every
// registration), or fails t after a minute.
func (c *fakeClock) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for {
		c.mu.Lock()
		if cond() {
			c.mu.Unlock()
			return
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("waited a minute for %s", what)
		}
	}
}

// WaitTickers waits until n tickers run; WaitAfters until n timers wait.
func (c *fakeClock) WaitTickers(t *testing.T, n int) {
	t.Helper()
	c.waitUntil(t, "tickers", func() bool { return len(c.tickers) >= n })
}

func (c *fakeClock) WaitAfters(t *testing.T, n int) {
	t.Helper()
	c.waitUntil(t, "retry timers", func() bool { return len(c.afters) >= n })
}

// captured is one batch an endpoint received, decoded.
type captured struct {
	AccountID       string           `json:"account_id"`
	ProjectID       string           `json:"project_id"`
	Revision        string           `json:"revision"`
	ClientName      string           `json:"client_name"`
	ClientVersion   string           `json:"client_version"`
	AnonymizeIP     bool             `json:"anonymize_ip"`
	EnrichDecisions bool             `json:"enrich_decisions"`
	Visitors        []map[string]any `json:"visitors"`
}

// endpoint is a local event endpoint: it answers what status says for
// each request (204 by default), optionally holding each request until
// release is closed, and delivers what it accepted (2xx) on batches.
type endpoint struct {
	*httptest.Server
	batches  chan captured
	requests atomic.Int64
	status   func(n int64) int // n counts requests from 1
	hold     chan struct{}     // nil: answer at once
	arrived  chan struct{}     // a request is being held

	releaseOnce sync.Once
}

func newEndpoint(t *testing.T, status func(n int64) int, hold bool) *endpoint {
	t.Helper()
	e := &endpoint{batches: make(chan captured, 10_000), status: status, arrived: make(chan struct{}, 10_000)}
	if hold {
		e.hold = make(chan struct{})
	}
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(func() {
		e.release()
		e.Close()
	})
	return e
}

// release lets held requests (and those to come) be answered.
func (e *endpoint) release() {
	e.releaseOnce.Do(func() {
		if e.hold != nil {
			close(e.hold)
		}
	})
}

func (e *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	n := e.requests.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if e.hold != nil {
		e.arrived <- struct{}{}
		<-e.hold
	}
	code := http.StatusNoContent
	if e.status != nil {
		code = e.status(n)
	}
	if code/100 == 2 {
		var b captured
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		e.batches <- b
	}
	w.WriteHeader(code)
}

// next returns the next batch accepted, failing t after a minute.
func (e *endpoint) next(t *testing.T) captured {
	t.Helper()
	select {
	case b := <-e.batches:
		return b
	case <-time.After(time.Minute):
		t.Fatal("no batch arrived in a minute")
		return captured{}
	}
}

// none checks that no batch was accepted so far.
func (e *endpoint) none(t *testing.T) {
	t.Helper()
	select {
	case b := <-e.batches:
		t.Fatalf("unexpected batch: %+v", b)
	default:
	}
}

// testProject is a small datafile's project.
func testProject(t testing.TB, project, revision string, extra string) *Project {
	t.Helper()
	df := `{"accountId":"acc","projectId":"` + project + `","revision":"` + revision + `","anonymizeIP":true,"botFiltering":false,` +
		`"attributes":[{"id":"a1","key":"plan"},{"id":"a2","key":"age"}],"events":[{"id":"e1","key":"purchase","experimentIds":[]}]` + extra + `}`
	p, err := ParseProject([]byte(df))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTestProcessor starts a processor on the fake clock sending to url,
// closed at the end of the test.
func newTestProcessor(t *testing.T, clock *fakeClock, url string, opts Options) *Processor {
	t.Helper()
	opts.URL, opts.Clock = url, clock
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.FlushInterval == 0 {
		opts.FlushInterval = time.Hour
	}
	p, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	clock.WaitTickers(t, 1)
	return p
}

var featureTest = Decision{CampaignID: "9001", ExperimentID: "3003", VariationID: "4005", FlagKey: "new_search",
	RuleKey: "search_experiment", VariationKey: "classic", RuleType: RuleFeatureTest, Enabled: true}
