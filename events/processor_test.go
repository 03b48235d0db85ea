package events

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Events of different projects or revisions never share a batch; each
// batch is sent as soon as it holds BatchSize events, without waiting for
// the interval.
func TestBatchesByProjectAndRevision(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, nil, false)
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 3})
	projects := []*Project{testProject(t, "p1", "1", ""), testProject(t, "p1", "2", ""), testProject(t, "p2", "1", "")}
	for i := range 9 {
		proj := projects[i%3]
		if !p.Impression(proj, User{ID: fmt.Sprintf("%s/%s/%d", proj.ProjectID(), proj.Revision(), i)}, featureTest) {
			t.Fatal("not queued")
		}
	}
	seen := map[string]int{}
	for range 3 {
		b := ep.next(t)
		if len(b.Visitors) != 3 {
			t.Errorf("batch of %d events, want 3", len(b.Visitors))
		}
		for _, v := range b.Visitors {
			if id := v["visitor_id"].(string); !strings.HasPrefix(id, b.ProjectID+"/"+b.Revision+"/") {
				t.Errorf("visitor %s in the batch of project %s revision %s", id, b.ProjectID, b.Revision)
			}
		}
		seen[b.ProjectID+"/"+b.Revision]++
	}
	if len(seen) != 3 {
		t.Errorf("batches %v, want one per project and revision", seen)
	}
	closeNow(t, p)
	if s := p.Stats(); s.Queued != 9 || s.Sent != 9 || s.Batches != 3 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
}

// A batch not yet full goes at the next tick of the flush interval, with
// every event queued before the tick.
func TestFlushOnInterval(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, nil, false)
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 10, FlushInterval: 30 * time.Second})
	proj := testProject(t, "p1", "1", "")
	for i := range 4 {
		p.Impression(proj, User{ID: fmt.Sprint(i)}, featureTest)
	}
	clock.Advance(29 * time.Second)
	if s := p.Stats(); s.Sent != 0 {
		t.Fatalf("sent %d before the interval", s.Sent)
	}
	clock.Advance(time.Second)
	if b := ep.next(t); len(b.Visitors) != 4 {
		t.Errorf("flushed %d events, want 4", len(b.Visitors))
	}
	// The next interval sends what came since; an empty one sends nothing.
	p.Impression(proj, User{ID: "late"}, featureTest)
	clock.Advance(30 * time.Second)
	if b := ep.next(t); len(b.Visitors) != 1 || b.Visitors[0]["visitor_id"] != "late" {
		t.Errorf("second flush: %+v", b.Visitors)
	}
	clock.Advance(30 * time.Second)
	clock.Advance(30 * time.Second)
	if n := ep.requests.Load(); n != 2 {
		t.Errorf("%d requests, want 2: an empty interval sends nothing", n)
	}
}

// A network error, 408, 429 and 5xx are retried after a backoff that
// doubles; the batch is delivered once.
func TestRetries(t *testing.T) {
	clock := newFakeClock()
	statuses := []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusRequestTimeout, http.StatusInternalServerError, http.StatusNoContent}
	ep := newEndpoint(t, func(n int64) int { return statuses[n-1] }, false)
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 2, RetryInitial: time.Second, RetryMax: 3 * time.Second})
	proj := testProject(t, "p1", "1", "")
	p.Impression(proj, User{ID: "a"}, featureTest)
	p.Conversion(proj, User{ID: "b"}, "purchase", nil)
	waits := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} // doubling up to RetryMax
	for i, w := range waits {
		clock.WaitAfters(t, 1)
		if n := ep.requests.Load(); n != int64(i+1) {
			t.Fatalf("attempt %d: %d requests", i+1, n)
		}
		clock.Advance(w * 6 / 5) // the longest the jitter (±20%) makes it
	}
	b := ep.next(t)
	if len(b.Visitors) != 2 {
		t.Errorf("delivered %d events", len(b.Visitors))
	}
	closeNow(t, p)
	if s := p.Stats(); s.Sent != 2 || s.Retried != 4 || s.Batches != 1 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
	ep.none(t)
}

// A network error (nothing listening) is retried like a 5xx.
func TestRetriesNetworkErrors(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, nil, false)
	url := ep.URL
	ep.Close() // connection refused from now on
	p := newTestProcessor(t, clock, url, Options{BatchSize: 1, RetryInitial: time.Second, RetryMax: time.Second, RetryFor: 5 * time.Second})
	p.Impression(testProject(t, "p1", "1", ""), User{ID: "a"}, featureTest)
	// Attempts at 0s, 2s, 4s and 6s: at 6s it has failed for RetryFor.
	for range 3 {
		clock.WaitAfters(t, 1)
		clock.Advance(2 * time.Second)
	}
	closeNow(t, p)
	if s := p.Stats(); s.Dropped[DropGaveUp] != 1 || s.Sent != 0 || s.Pending != 0 || s.Retried != 3 {
		t.Errorf("stats %+v", s)
	}
}

// A 4xx other than 408 and 429 is the endpoint refusing the batch: it is
// dropped at once, not retried.
func TestRejectedBatchIsDropped(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, func(int64) int { return http.StatusBadRequest }, false)
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 3})
	proj := testProject(t, "p1", "1", "")
	for i := range 3 {
		p.Impression(proj, User{ID: fmt.Sprint(i)}, featureTest)
	}
	closeNow(t, p)
	if s := p.Stats(); s.Dropped[DropRejected] != 3 || s.Retried != 0 || s.Sent != 0 || s.Pending != 0 || ep.requests.Load() != 1 {
		t.Errorf("stats %+v, %d requests", s, ep.requests.Load())
	}
}

// QueueBytes bounds the queue by the size of the events' JSON, and the
// queue holds that JSON rather than the callers' attribute maps: events
// with large attributes, queued while the endpoint holds every request,
// keep the heap within the bound (before, each queued event kept its
// user's map: 1,000 such events held 128 MB) and the rest are dropped and
// counted; what was queued is delivered once the endpoint answers.
func TestQueueBytesBound(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, nil, true) // holds every request
	const bound = 4 << 20
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 10, QueueBytes: bound, Senders: 1})
	proj := testProject(t, "p1", "1", "")
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	const n, attr = 1000, 128 << 10
	queued := 0
	for i := range n {
		u := User{ID: fmt.Sprint(i), Attributes: map[string]any{"plan": strings.Repeat(string(rune('a'+i%26)), attr)}}
		if p.Impression(proj, u, featureTest) {
			queued++
		}
		if b := p.Stats().PendingBytes; b > bound {
			t.Fatalf("after event %d: %d bytes queued, over the bound %d", i, b, bound)
		}
	}
	if grown := heap() - before; grown > 3*bound {
		t.Errorf("the heap grew by %d MB with %d events queued, want under %d MB", grown>>20, queued, 3*bound>>20)
	}
	s := p.Stats()
	if queued < bound/(2*attr) || queued > bound/attr || s.Dropped[DropQueueFull] != uint64(n-queued) || s.Pending != int64(queued) {
		t.Errorf("%d of %d queued; stats %+v", queued, n, s)
	}
	ep.release()
	closeNow(t, p) // sends the open batch too
	if s := p.Stats(); s.Sent != uint64(queued) || s.Pending != 0 || s.PendingBytes != 0 {
		t.Errorf("stats after the endpoint answered %+v", s)
	}
}

// The queue holds at most QueueSize events not yet sent, counting those
// batched and in flight: beyond it events are dropped and counted, and
// queueing never waits for the endpoint.
func TestQueueBound(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, nil, true) // holds every request
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 1, QueueSize: 5, Senders: 1})
	proj := testProject(t, "p1", "1", "")
	p.Impression(proj, User{ID: "0"}, featureTest)
	<-ep.arrived // the first is in flight, held
	for i := 1; i < 5; i++ {
		if !p.Impression(proj, User{ID: fmt.Sprint(i)}, featureTest) {
			t.Fatalf("event %d refused within the bound", i)
		}
	}
	for i := 5; i < 8; i++ {
		if p.Impression(proj, User{ID: fmt.Sprint(i)}, featureTest) {
			t.Fatalf("event %d queued beyond the bound", i)
		}
	}
	if s := p.Stats(); s.Queued != 5 || s.Dropped[DropQueueFull] != 3 || s.Pending != 5 {
		t.Errorf("stats %+v", s)
	}
	ep.release()
	got := map[string]bool{}
	for range 5 {
		for _, v := range ep.next(t).Visitors {
			got[v["visitor_id"].(string)] = true
		}
	}
	if len(got) != 5 {
		t.Errorf("delivered %v", got)
	}
	// Room again once they are sent.
	waitFor(t, func() bool { return p.Stats().Pending == 0 })
	if !p.Impression(proj, User{ID: "again"}, featureTest) {
		t.Error("refused after the queue drained")
	}
}

// Close sends every queued event, batched or not, waiting for an endpoint
// that is slow to answer.
func TestCloseSendsEverything(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, nil, true)
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 10, QueueSize: 1000, Senders: 2})
	projects := []*Project{testProject(t, "p1", "1", ""), testProject(t, "p1", "2", "")}
	for i := range 555 {
		p.Conversion(projects[i%2], User{ID: fmt.Sprint(i)}, "purchase", map[string]any{"revenue": float64(i)})
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close(context.Background()) }()
	<-ep.arrived
	ep.release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for len(got) < 555 {
		b := ep.next(t)
		if len(b.Visitors) > 10 {
			t.Errorf("batch of %d", len(b.Visitors))
		}
		for _, v := range b.Visitors {
			id := v["visitor_id"].(string)
			if got[id] {
				t.Errorf("%s delivered twice", id)
			}
			got[id] = true
		}
	}
	ep.none(t)
	if s := p.Stats(); s.Sent != 555 || s.Pending != 0 || s.Queued != 555 {
		t.Errorf("stats %+v", s)
	}
	// Closed: events are refused and counted; Close again does nothing.
	if p.Impression(projects[0], User{ID: "late"}, featureTest) || p.Dropped(DropClosed) != 1 {
		t.Error("an event after Close was not refused and counted")
	}
	if err := p.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// When Close's context ends with the endpoint down, what is left is
// counted as dropped and the error says how many: every event is sent or
// counted.
func TestCloseDeadlineCountsWhatIsLeft(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, func(int64) int { return http.StatusServiceUnavailable }, false)
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 10, QueueSize: 100, Senders: 1})
	proj := testProject(t, "p1", "1", "")
	for i := range 35 {
		p.Impression(proj, User{ID: fmt.Sprint(i)}, featureTest)
	}
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- p.Close(ctx) }()
	clock.WaitAfters(t, 1) // a batch failed and waits to retry
	cancel()
	err := <-closed
	if err == nil || !strings.Contains(err.Error(), "35 events not sent") {
		t.Fatalf("Close: %v", err)
	}
	if s := p.Stats(); s.Dropped[DropShutdown] != 35 || s.Sent != 0 || s.Pending != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestNewChecksOptions(t *testing.T) {
	for _, o := range []Options{
		{URL: "ftp://x"}, {URL: "logx"}, {BatchSize: -1}, {BatchSize: 20, QueueSize: 10},
		{RetryInitial: time.Minute, RetryMax: time.Second}, {FlushInterval: -time.Second},
	} {
		if p, err := New(o); err == nil {
			_ = p.Close(context.Background())
			t.Errorf("New(%+v): no error", o)
		}
	}
	p, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if p.URL() != DefaultURL || p.opts.BatchSize != 100 || p.opts.QueueBytes != 64<<20 || p.opts.FlushInterval != 30*time.Second || p.id.name != "stickybucket" || p.id.version == "" {
		t.Errorf("defaults: %+v", p.opts)
	}
}

func TestNilProcessorQueuesNothing(t *testing.T) {
	var p *Processor
	if p.Impression(testProject(t, "p", "1", ""), User{ID: "a"}, featureTest) || p.Conversion(testProject(t, "p", "1", ""), User{ID: "a"}, "purchase", nil) {
		t.Error("a nil processor queued")
	}
}

// closeNow closes p, so its counters are final.
func closeNow(t *testing.T, p *Processor) {
	t.Helper()
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits until cond holds, for outcomes a test cannot be told of
// (counters the senders update after the endpoint answered); it fails t
// after a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(time.Millisecond)
	}
}

// Queueing an event allocates nothing but its share of its batch's
// body: it is encoded into a pooled buffer, its UUID made on the stack.
func TestImpressionDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocations are not counted under the race detector or coverage")
	}
	clock := newFakeClock()
	ep := newEndpoint(t, nil, true)
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 5000, QueueSize: 5000})
	proj := testProject(t, "p1", "1", "")
	u := User{ID: "alice", Attributes: map[string]any{"plan": "pro"}}
	p.Impression(proj, u, featureTest) // the batch's slice is made once
	if n := testing.AllocsPerRun(1000, func() { p.Impression(proj, u, featureTest) }); n != 0 {
		t.Errorf("%v allocations per impression queued", n)
	}
	ep.release()
}
