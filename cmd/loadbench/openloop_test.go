package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock moves only when a client sleeps or a fake request takes time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestScheduledIn(t *testing.T) {
	for _, tt := range []struct {
		rate float64
		d    time.Duration
		max  int64
		want int64
	}{
		{1000, time.Second, 1 << 40, 1000}, // 0, 1 ms, …, 999 ms
		{1000, 1500 * time.Microsecond, 1 << 40, 2},
		{3, time.Second, 1 << 40, 3},
		{2.5, time.Second, 1 << 40, 3}, // 0, 0.4 s, 0.8 s
		{10000, 10 * time.Second, 50_000, 50_000},
		{0, time.Second, 10, 0},
		{100, 0, 10, 0},
	} {
		if got := scheduledIn(tt.rate, tt.d, tt.max); got != tt.want {
			t.Errorf("scheduledIn(%v, %v, %d) = %d, want %d", tt.rate, tt.d, tt.max, got, tt.want)
		}
	}
}

func TestScheduleClaims(t *testing.T) {
	clk := &fakeClock{now: time.Unix(100, 0)}
	start := clk.Now()
	s := newSchedule(clk, 1000, 10*time.Millisecond, 1<<40)
	if s.n != 10 {
		t.Fatalf("%d requests scheduled, want 10", s.n)
	}
	// Claimed at the start: request 0 is due now (on time, not late), the
	// next ones later.
	for k := range int64(3) {
		got, intended, late, ok := s.claim()
		if !ok || got != k || late || !intended.Equal(start.Add(time.Duration(k)*time.Millisecond)) {
			t.Fatalf("claim %d = %d, %v, late %v, ok %v", k, got, intended.Sub(start), late, ok)
		}
	}
	// 5.5 ms in: request 3 (due at 3 ms) is late.
	clk.advance(5500 * time.Microsecond)
	if k, _, late, ok := s.claim(); !ok || k != 3 || !late {
		t.Errorf("claim at 5.5 ms = %d, late %v, ok %v; want request 3, late", k, late, ok)
	}
	// At the deadline nothing more is handed out: requests 4 to 9 were
	// never sent.
	clk.advance(4500 * time.Microsecond)
	if _, _, _, ok := s.claim(); ok {
		t.Error("a request was handed out at the deadline")
	}
	if got := s.unsent(); got != 6 {
		t.Errorf("unsent %d, want 6", got)
	}

	// With a bound on requests, the schedule ends with the last one.
	s = newSchedule(clk, 1000, time.Second, 2)
	for range 2 {
		if _, _, _, ok := s.claim(); !ok {
			t.Fatal("claim within the bound refused")
		}
	}
	if _, _, _, ok := s.claim(); ok || s.unsent() != 0 {
		t.Errorf("claim past the bound: ok %v, unsent %d; want refused, none unsent", ok, s.unsent())
	}
}

// One client at 1000 requests/s (one every ms) against answers that take
// 0.5 ms, except the second, which takes 3 ms: the requests due meanwhile
// wait for the client and their latency counts from their intended time.
func TestOpenLoopAccountsFromIntendedTimes(t *testing.T) {
	clk := &fakeClock{now: time.Unix(0, 0)}
	s := newSchedule(clk, 1000, 8*time.Millisecond, 1<<40)
	w := &worker{
		bodies:    make([][]byte, 3),
		rng:       rand.New(rand.NewPCG(1, 1)),
		hist:      newHistogram(),
		sendDelay: newHistogram(),
	}
	var sentAt []time.Duration
	w.openLoop(s, func(int) result {
		sentAt = append(sentAt, clk.Now().Sub(time.Unix(0, 0)))
		if len(sentAt) == 2 {
			clk.advance(3 * time.Millisecond)
		} else {
			clk.advance(500 * time.Microsecond)
		}
		// The request's own measurement is replaced by the open loop's.
		return result{kind: outcomeOK, latency: time.Hour, variation: "on"}
	})
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	// Intended at 0, 1, 2, …, 7 ms. Request 1 is sent at 1 ms and answered
	// at 4 ms; 2 goes at 4 (2 ms late), 3 at 4.5, 4 at 5, 5 at 5.5; 6 and
	// 7 are on time again.
	wantSent := []time.Duration{0, ms(1), ms(4), ms(4.5), ms(5), ms(5.5), ms(6), ms(7)}
	if len(sentAt) != len(wantSent) {
		t.Fatalf("sent at %v, want %v", sentAt, wantSent)
	}
	for i := range wantSent {
		if sentAt[i] != wantSent[i] {
			t.Fatalf("sent at %v, want %v", sentAt, wantSent)
		}
	}
	// Latencies from the intended times: 0.5, 3, 2.5, 2, 1.5, 1, 0.5, 0.5 ms.
	if w.ok != 8 || w.open.sent != 8 || w.open.late != 4 {
		t.Errorf("ok %d, sent %d, late %d; want 8, 8, 4", w.ok, w.open.sent, w.open.late)
	}
	if s.unsent() != 0 {
		t.Errorf("unsent %d, want 0", s.unsent())
	}
	// The histogram keeps 3 significant digits.
	near := func(got, want float64) bool { return got >= want*0.999 && got <= want*1.001 }
	l := latencyOf(w.hist)
	if !near(l.Max, 3) || !near(l.Min, 0.5) || !near(l.Mean, 1.4375) {
		t.Errorf("latency %+v: want min 0.5 ms, mean 1.4375 ms, max 3 ms", l)
	}
	// Send delays: 2, 1.5, 1, 0.5 ms for the late ones, 0 for the others.
	d := latencyOf(w.sendDelay)
	if !near(d.Max, 2) || !near(d.Mean, 0.625) || d.P50 > 0.001 {
		t.Errorf("send delay %+v: want max 2 ms, mean 0.625 ms, p50 0", d)
	}
}

// A target that cannot keep up leaves requests unsent, and the run says
// the rate was not held.
func TestRunOpenLoopAgainstASlowServer(t *testing.T) {
	srv := &decideServer{onRequest: func(*http.Request, string) { time.Sleep(20 * time.Millisecond) }}
	target := startServer(t, srv)
	cfg := testConfig(target)
	cfg.Clients = 1
	cfg.Rounds = 1
	cfg.Rate = 200 // one request every 5 ms; the server takes 20 ms each
	cfg.Duration = 200 * time.Millisecond
	cfg.MaxRequests = 1 << 40
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Targets[0]
	o := tr.OpenLoop
	if o == nil || rep.Setup.Mode != "open loop" || rep.Setup.RatePerSecond != 200 {
		t.Fatalf("open loop %+v, setup %+v", o, rep.Setup)
	}
	if o.Scheduled != 40 || o.Sent+o.Unsent != o.Scheduled || o.Unsent == 0 || o.Late == 0 || o.Held {
		t.Errorf("open loop %+v: want 40 scheduled, some late, some unsent, not held", o)
	}
	if tr.OK != o.Sent || tr.Requests != o.Sent {
		t.Errorf("ok %d, requests %d, sent %d: want every request sent answered", tr.OK, tr.Requests, o.Sent)
	}
	// Each answer takes at least 20 ms; a late request waited on top.
	if tr.Latency.Min < 20 || tr.Latency.Max <= 40 {
		t.Errorf("latency %+v: want at least 20 ms each, and the queue in the longest", tr.Latency)
	}
	if rr := tr.Rounds[0].OpenLoop; rr == nil || *rr != *o {
		t.Errorf("round %+v, want the target's figures %+v", rr, o)
	}
}

// A server that keeps up gets every scheduled request.
func TestRunOpenLoopSendsTheSchedule(t *testing.T) {
	srv := &decideServer{}
	target := startServer(t, srv)
	cfg := testConfig(target)
	cfg.Rounds = 2
	cfg.Rate = 500
	cfg.Duration = 100 * time.Millisecond
	cfg.Warmup = 20 * time.Millisecond
	cfg.MaxRequests = 1 << 40
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tr := rep.Targets[0]
	o := tr.OpenLoop
	// 50 a round; on a busy machine a few may miss the deadline.
	if o == nil || o.Scheduled != 100 || o.Sent+o.Unsent != 100 || tr.OK != o.Sent {
		t.Fatalf("open loop %+v, ok %d: want 100 scheduled over two rounds, each sent one answered", o, tr.OK)
	}
	// Warm-ups follow the schedule too: at most 10 each.
	if tr.WarmupRequests == 0 || tr.WarmupRequests > 20 {
		t.Errorf("warm-up requests %d, want 1 to 2 × 10", tr.WarmupRequests)
	}
	if got := srv.total(); got != 1+tr.WarmupRequests+o.Sent {
		t.Errorf("server answered %d, want the probe, %d warm-up and %d measured", got, tr.WarmupRequests, o.Sent)
	}
	if tr.ElapsedSeconds < 0.19 {
		t.Errorf("elapsed %v s: two rounds of a 100 ms schedule take at least ~0.2 s", tr.ElapsedSeconds)
	}
}

// The open loop's clients stop when the run is interrupted.
func TestRunOpenLoopInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen atomic.Int64
	srv := &decideServer{onRequest: func(*http.Request, string) {
		// The probe and a few measured requests pass, then the run is
		// interrupted.
		if seen.Add(1) == 5 {
			cancel()
		}
	}}
	target := startServer(t, srv)
	cfg := testConfig(target)
	cfg.Rate = 100
	cfg.Duration = time.Minute // only the interrupt ends it
	cfg.MaxRequests = 1 << 40
	done := make(chan struct{})
	var rep *Report
	var err error
	go func() {
		defer close(done)
		rep, err = Run(ctx, cfg, nil)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the open loop did not stop on interrupt")
	}
	if !errors.Is(err, context.Canceled) || rep == nil || !rep.Interrupted {
		t.Fatalf("Run = %+v, %v; want a report marked interrupted and the context's error", rep, err)
	}
	if o := rep.Targets[0].OpenLoop; o == nil || o.Sent < 4 || o.Held {
		t.Errorf("open loop %+v: want the requests sent before the interrupt, not held", o)
	}
}
