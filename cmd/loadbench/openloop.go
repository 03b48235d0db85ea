package main

import (
	"math"
	"sync/atomic"
	"time"
)

// The open-loop mode (--rate) sends requests at a fixed rate whatever the
// answers, as wrk2 does: request k of a phase has an intended send time,
// start + k/rate, and its latency counts from that time, not from when it
// was sent. A client that is still busy at a request's intended time
// sends it late, and the wait counts in its latency, so a server that
// stalls is charged for the queue it causes (HdrHistogram's correction of
// coordinated omission). In-flight requests are bounded by the clients:
// each free client claims the next request of the schedule, waits for its
// intended time and sends it.

// clock is the time source of the open loop; tests give a fake one.
type clock interface {
	Now() time.Time
	// SleepUntil returns at t or soon after (at once if t has passed).
	SleepUntil(t time.Time)
}

// realClock sleeps with the platform's most precise sleep (sleepFor).
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) SleepUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		sleepFor(d)
	}
}

// schedule hands out the requests of one open-loop phase: request k is
// intended at start + k/rate, for k < n, and none is handed out at or after
// the deadline (the phase's end), so a target that falls behind leaves
// requests unsent rather than stretching the phase. It is safe for
// concurrent use by the clients.
type schedule struct {
	clock    clock
	start    time.Time
	rate     float64 // requests per second
	n        int64   // requests in the schedule
	deadline time.Time

	next    atomic.Int64 // the next request to hand out
	claimed atomic.Int64 // requests handed out
}

// newSchedule plans rate requests per second from now for d, at most max.
func newSchedule(c clock, rate float64, d time.Duration, max int64) *schedule {
	start := c.Now()
	return &schedule{clock: c, start: start, rate: rate, n: scheduledIn(rate, d, max), deadline: start.Add(d)}
}

// scheduledIn counts the intended times start + k/rate that fall before
// start + d, at most max.
func scheduledIn(rate float64, d time.Duration, max int64) int64 {
	if rate <= 0 || d <= 0 {
		return 0
	}
	n := int64(math.Ceil(rate*d.Seconds() - 1e-9))
	return min(n, max)
}

// intended is request k's intended send time.
func (s *schedule) intended(k int64) time.Time {
	return s.start.Add(time.Duration(math.Round(float64(k) * 1e9 / s.rate)))
}

// claim hands out the next request: its index, its intended time, and
// whether it is late, that is claimed after its intended time (no client
// was free then). ok is false when the schedule is done or the deadline has
// passed.
func (s *schedule) claim() (k int64, intended time.Time, late, ok bool) {
	now := s.clock.Now()
	if !now.Before(s.deadline) {
		return 0, time.Time{}, false, false
	}
	k = s.next.Add(1) - 1
	if k >= s.n {
		return 0, time.Time{}, false, false
	}
	s.claimed.Add(1)
	intended = s.intended(k)
	return k, intended, now.After(intended), true
}

// unsent counts the requests of the schedule that were never handed out:
// the backlog a target that could not keep up left at the deadline.
func (s *schedule) unsent() int64 { return s.n - s.claimed.Load() }

// openTally is what the open loop adds to a tally.
type openTally struct {
	scheduled int64 // requests in the schedules (set per phase)
	sent      int64 // handed out and sent
	late      int64 // handed out after their intended time
	unsent    int64 // scheduled but never sent: the phase ended first
}

func (o *openTally) add(p *openTally) {
	o.scheduled += p.scheduled
	o.sent += p.sent
	o.late += p.late
	o.unsent += p.unsent
}

// openLoop is one client of an open-loop phase: it claims requests until
// the schedule is done, waits for each one's intended time, sends it and
// records its latency from that time. send does the request; the latency
// it measures itself is replaced.
func (w *worker) openLoop(s *schedule, send func(user int) result) {
	for {
		_, intended, late, ok := s.claim()
		if !ok {
			return
		}
		user := w.rng.IntN(len(w.bodies))
		s.clock.SleepUntil(intended)
		sent := s.clock.Now()
		res := send(user)
		done := s.clock.Now()
		w.open.sent++
		if late {
			w.open.late++
		}
		recordNS(w.sendDelay, sent.Sub(intended))
		res.latency = done.Sub(intended)
		w.count(res)
	}
}

// recordNS adds d to h, clamped to the histogram's range.
func recordNS(h interface{ RecordValue(int64) error }, d time.Duration) {
	v := max(d.Nanoseconds(), 0)
	if v > histogramMax {
		v = histogramMax
	}
	// Within range by construction, so RecordValue cannot fail.
	_ = h.RecordValue(v)
}
