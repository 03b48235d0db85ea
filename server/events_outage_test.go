package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/events"
)

// flakyEndpoint is an event endpoint that can answer (204, keeping what
// it received), fail (503), hold requests, or be gone (connection
// refused), and come back on the same address.
type flakyEndpoint struct {
	addr string
	mode atomic.Int32
	hold chan struct{}
	srv  *http.Server
	mu   sync.Mutex
	got  map[string]int // visitor ID → deliveries
}

const (
	modeUp = iota
	mode503
	modeHold
)

func newFlakyEndpoint(t *testing.T) *flakyEndpoint {
	e := &flakyEndpoint{addr: "127.0.0.1:0", hold: make(chan struct{}), got: map[string]int{}}
	e.start(t)
	t.Cleanup(func() {
		e.release()
		e.stop()
	})
	return e
}

func (e *flakyEndpoint) url() string { return "http://" + e.addr + "/v1/events" }

func (e *flakyEndpoint) start(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serve)}
	go func() {
		if err := e.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	}()
}

// stop closes the listener and every connection: connection refused.
func (e *flakyEndpoint) stop() { _ = e.srv.Close() }

// release answers the held requests (with 503) and holds no more.
func (e *flakyEndpoint) release() {
	select {
	case <-e.hold:
	default:
		e.mode.CompareAndSwap(modeHold, mode503)
		close(e.hold)
	}
}

func (e *flakyEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch e.mode.Load() {
	case mode503:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case modeHold:
		<-e.hold
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var b struct {
		Visitors []struct {
			VisitorID string `json:"visitor_id"`
		} `json:"visitors"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	e.mu.Lock()
	for _, v := range b.Visitors {
		e.got[v.VisitorID]++
	}
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// load sends workers × n decides of new_search (each queues one
// impression: the datafile sets sendFlagDecisions) for users named
// phase/worker/i, and returns their latencies, sorted.
func load(t *testing.T, s *eventService, phase string, workers, n int) []time.Duration {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	lat := make([][]time.Duration, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range n {
				body := fmt.Sprintf(`{"userId":"%s/%d/%d","userAttributes":{"plan":"pro"}}`, phase, w, i)
				start := time.Now()
				res, err := client.Post(s.url+"/v1/decide?keys=new_search", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat[w] = append(lat[w], time.Since(start))
				if res.StatusCode != 200 {
					t.Errorf("decide: %d", res.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	return all
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// The event endpoint fails (503), hangs, then is gone (connection
// refused) while decisions keep coming, then comes back: every event
// queued within the bound is delivered once, the rest are counted as
// dropped, and the decisions never wait for the endpoint (they complete
// while it hangs).
func TestEventEndpointOutageUnderLoad(t *testing.T) {
	ep := newFlakyEndpoint(t)
	const queue = 1000
	s := newEventServiceWith(t, func(df map[string]any) { df["sendFlagDecisions"] = true }, events.Options{
		BatchSize: 10, QueueSize: queue, FlushInterval: 20 * time.Millisecond, Senders: 4,
		RetryInitial: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond, Timeout: time.Minute,
	}, ep.url())
	const workers, n = 8, 250
	waitDrained := func(what string) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for s.proc.Stats().Pending != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d events still pending after a minute", what, s.proc.Stats().Pending)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	up := load(t, s, "up", workers, n)
	waitDrained("endpoint up")

	ep.mode.Store(mode503)
	failing := load(t, s, "503", workers, n)
	ep.mode.Store(modeHold)
	hanging := load(t, s, "hold", workers, n)
	ep.release()
	ep.stop()
	refused := load(t, s, "refused", workers, n)
	if st := s.proc.Stats(); st.Sent != workers*n || st.Dropped[events.DropQueueFull] == 0 {
		t.Fatalf("during the outage: %+v; want nothing more sent and the bound reached", st)
	}

	ep.mode.Store(modeUp)
	ep.start(t)
	waitDrained("endpoint back")

	st := s.proc.Stats()
	total := uint64(4 * workers * n)
	if st.Queued+st.Dropped[events.DropQueueFull] != total {
		t.Errorf("queued %d + dropped %d != %d decisions", st.Queued, st.Dropped[events.DropQueueFull], total)
	}
	if st.Sent != st.Queued || st.Dropped[events.DropRejected]+st.Dropped[events.DropGaveUp]+st.Dropped[events.DropShutdown] != 0 {
		t.Errorf("stats %+v: every queued event should be sent", st)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	for id, n := range ep.got {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if uint64(len(ep.got)) != st.Queued {
		t.Errorf("%d delivered, %d queued", len(ep.got), st.Queued)
	}
	t.Logf("%d decisions: %d events queued and delivered once each, %d dropped (queue of %d full during the outage), %d retries",
		total, st.Queued, st.Dropped[events.DropQueueFull], queue, st.Retried)
	for _, p := range []struct {
		name string
		lat  []time.Duration
	}{{"endpoint up", up}, {"503", failing}, {"hanging", hanging}, {"refused", refused}} {
		t.Logf("decide latency, %-11s p50 %v  p99 %v  max %v", p.name, percentile(p.lat, 0.5), percentile(p.lat, 0.99), percentile(p.lat, 1))
	}
	// The request path only queues: the outage must not move the median
	// by much, whatever the noise of a shared machine.
	for _, lat := range [][]time.Duration{failing, hanging, refused} {
		if p50 := percentile(lat, 0.5); p50 > 4*percentile(up, 0.5)+2*time.Millisecond {
			t.Errorf("decide p50 %v during the outage, %v with the endpoint up", p50, percentile(up, 0.5))
		}
	}
}
