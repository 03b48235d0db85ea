package stack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/events"
)

// eventSink is a local event endpoint: it answers status (204 unless
// set), holds every request until released when hold is set, and keeps
// the visitor IDs of the batches it accepted.
type eventSink struct {
	*httptest.Server
	status  int
	hold    chan struct{}
	arrived chan struct{}
	mu      sync.Mutex
	ids     []string
}

func newEventSink(t *testing.T, status int, hold bool) *eventSink {
	t.Helper()
	s := &eventSink{status: status, arrived: make(chan struct{}, 1000)}
	if hold {
		s.hold = make(chan struct{})
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if s.hold != nil {
			s.arrived <- struct{}{}
			<-s.hold
		}
		if s.status != 0 {
			w.WriteHeader(s.status)
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
		s.mu.Lock()
		for _, v := range b.Visitors {
			s.ids = append(s.ids, v.VisitorID)
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(func() {
		s.release()
		s.Close()
	})
	return s
}

func (s *eventSink) release() {
	if s.hold != nil {
		select {
		case <-s.hold:
		default:
			close(s.hold)
		}
	}
}

// received returns the visitor IDs received, failing t on a duplicate.
func (s *eventSink) received(t *testing.T) map[string]bool {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, id := range s.ids {
		if seen[id] {
			t.Errorf("%s delivered twice", id)
		}
		seen[id] = true
	}
	return seen
}

// eventsService starts the service on examples/datafile-v1.json with an
// event declared, sending events to url.
func eventsService(t *testing.T, url, extra string, log *slog.Logger) (*Service, string, chan os.Signal) {
	t.Helper()
	var df map[string]any
	if err := json.Unmarshal(mustRead(t, "../examples/datafile-v1.json"), &df); err != nil {
		t.Fatal(err)
	}
	df["events"] = []any{map[string]any{"id": "5001", "key": "purchase", "experimentIds": []any{}}}
	raw, err := json.Marshal(df)
	if err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, memoryEnv+`
server: {listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", shutdown_timeout: 5s}
events: {enabled: true, url: "`+url+`", batch_size: 10, flush_interval: 1h, queue: 200}
`+extra)
	cfg.Datafiles = []config.DatafileSource{{SDKKey: "k1", URL: newDatafileServer(t, raw).URL, PollEvery: config.Duration(24 * time.Hour)}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	signals := make(chan os.Signal)
	svc := startService(t, cfg, ServiceOptions{Log: log, Signals: signals})
	return svc, "http://" + svc.Addrs()[0].String(), signals
}

// track sends n conversions, for users prefix0…, each queued or dropped
// at once.
func track(t *testing.T, api, prefix string, n int) {
	t.Helper()
	for i := range n {
		res, err := http.Post(api+"/v1/track?eventKey=purchase", "application/json", strings.NewReader(fmt.Sprintf(`{"userId":"%s%d"}`, prefix, i)))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("track: %d", res.StatusCode)
		}
	}
}

// logSignal is a slog handler that closes seen when a message is logged.
type logSignal struct {
	slog.Handler
	msg  string
	seen chan struct{}
	once *sync.Once
}

func (h logSignal) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.once.Do(func() { close(h.seen) })
	}
	return h.Handler.Handle(ctx, r)
}

func (h logSignal) Enabled(context.Context, slog.Level) bool { return true }

func (h logSignal) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

// SIGTERM with a full queue and an endpoint that has not answered yet:
// the service stops taking requests, then waits for the endpoint, and
// every event queued is delivered before Run returns; those beyond the
// queue were counted as dropped when they came.
func TestServiceSIGTERMSendsQueuedEvents(t *testing.T) {
	sink := newEventSink(t, 0, true)
	closed := make(chan struct{})
	log := slog.New(logSignal{Handler: slog.DiscardHandler, msg: "listeners closed; requests in flight finished", seen: closed, once: &sync.Once{}})
	svc, api, signals := eventsService(t, sink.URL, "", log)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(context.Background()) }()

	track(t, api, "u", 500)
	st := svc.events.Stats()
	if st.Queued != 200 || st.Dropped[events.DropQueueFull] != 300 {
		t.Fatalf("queued %d, dropped %v; want 200 queued (the bound), 300 dropped", st.Queued, st.Dropped)
	}
	signals <- syscall.SIGTERM
	<-closed // the listeners are closed; the events are not sent yet
	if n := len(sink.received(t)); n != 0 {
		t.Fatalf("%d delivered before the endpoint answered", n)
	}
	sink.release()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := sink.received(t); len(got) != 200 {
		t.Errorf("delivered %d events, want the 200 queued", len(got))
	}
	if st := svc.events.Stats(); st.Sent != 200 || st.Pending != 0 {
		t.Errorf("stats after Run: %+v", st)
	}
}

// SIGTERM with the endpoint down: the service retries until
// shutdown_timeout, then counts what is left as dropped and Run says so;
// every event is sent or counted.
func TestServiceSIGTERMCountsUndeliveredEvents(t *testing.T) {
	sink := newEventSink(t, http.StatusServiceUnavailable, false)
	svc, api, signals := eventsService(t, sink.URL, "", slog.New(slog.DiscardHandler))
	svc.cfg.Server.ShutdownTimeout = config.Duration(time.Second)
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(context.Background()) }()
	track(t, api, "u", 50)
	signals <- syscall.SIGTERM
	err := <-ran
	if err == nil || !strings.Contains(err.Error(), "50 events not sent") {
		t.Fatalf("Run: %v, want an error counting 50 events", err)
	}
	if st := svc.events.Stats(); st.Sent != 0 || st.Dropped[events.DropShutdown] != 50 || st.Pending != 0 {
		t.Errorf("stats %+v", st)
	}
}

// The counters are on the service's registry.
func TestServiceEventMetrics(t *testing.T) {
	sink := newEventSink(t, 0, false)
	svc, api, _ := eventsService(t, sink.URL, "", slog.New(slog.DiscardHandler))
	defer svc.Close()
	track(t, api, "u", 3)
	res, err := http.Get("http://" + svc.Addrs()[1].String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range []string{"stickybucket_events_queued_total 3", "stickybucket_events_sent_total ", "stickybucket_events_retried_total 0",
		`stickybucket_events_dropped_total{reason="queue_full"} 0`, `stickybucket_events_dropped_total{reason="shutdown"} 0`,
		"stickybucket_events_pending ", "stickybucket_events_batches_total "} {
		if !strings.Contains(string(body), "\n"+line) {
			t.Errorf("/metrics has no line %q", line)
		}
	}
}

func TestClientVersion(t *testing.T) {
	for v, want := range map[string]string{"v1.4.0": "1.4.0", "v0.3.0-12-gabc1234-dirty": "0.3.0-12-gabc1234-dirty", "unknown": "0.0.0-dev", "(devel)": "0.0.0-dev", "": "0.0.0-dev"} {
		if got := clientVersion(v); got != want {
			t.Errorf("clientVersion(%q) = %q, want %q", v, got, want)
		}
	}
}
