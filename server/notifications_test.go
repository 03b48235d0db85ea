package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stickybucket/stickybucket/events"
)

// notifyService is the API over datafile v1 with a purchase event, as SDK
// key k1, with events on (to a sink) unless told otherwise, and the
// notification stream on unless notes is nil.
type notifyService struct {
	url     string
	raw     []byte
	notes   *Notifications
	handler http.Handler
	reg     *prometheus.Registry
	// exited receives once each time a stream's handler returns.
	exited chan struct{}
}

func newNotifyService(t testing.TB, opts *NotificationOptions, withEvents bool) *notifyService {
	t.Helper()
	raw := purchaseDatafile(t, nil)
	cat, store := eventsCatalog(t, raw)
	var proc *events.Processor
	if withEvents {
		proc = startProcessor(t, events.Options{URL: newSink(t).URL, QueueSize: 10_000})
	}
	s := &notifyService{raw: raw, reg: prometheus.NewRegistry(), exited: make(chan struct{}, 16)}
	if opts != nil {
		o := *opts
		o.Registerer = s.reg
		var err error
		if s.notes, err = NewNotifications(o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.notes.Close)
	}
	h, err := NewAPI(Options{Catalog: cat, Profiles: store, Events: proc, Notifications: s.notes})
	if err != nil {
		t.Fatal(err)
	}
	s.handler = h
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == "/v1/notifications/event-stream" {
			s.exited <- struct{}{}
		}
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// sseEvent is one server-sent event: its event name (none here) and data.
type sseEvent struct{ event, data string }

// sseReader reads server-sent events as a browser's EventSource does:
// "field: value" lines up to a blank line; comments (":…") skipped; data
// lines joined by newlines.
type sseReader struct{ r *bufio.Reader }

func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if data == nil {
				continue
			}
			ev.data = strings.Join(data, "\n")
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data = append(data, value)
		case "event":
			ev.event = value
		}
	}
}

// sseStream is an open event stream of a test.
type sseStream struct {
	res    *http.Response
	sse    *sseReader
	cancel context.CancelFunc
}

// openStream opens the event stream with query (e.g. "?filter=track") and
// returns once its headers came, that is once it is subscribed.
func openStream(t *testing.T, base, query string, header ...string) (*sseStream, *http.Response) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/notifications/event-stream"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		defer cancel()
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(b))
		return nil, res
	}
	s := &sseStream{res: res, sse: &sseReader{bufio.NewReader(res.Body)}, cancel: cancel}
	t.Cleanup(func() { cancel(); res.Body.Close() })
	return s, res
}

// next returns the data of the stream's next event; the stream's context
// bounds the wait.
func (s *sseStream) next(t *testing.T) string {
	t.Helper()
	ev, err := s.sse.next()
	if err != nil {
		t.Fatalf("reading the event stream: %v", err)
	}
	if ev.event != "" {
		t.Errorf("event: %q; Agent's stream names no event", ev.event)
	}
	return ev.data
}

func post(t testing.TB, url, body string) string {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", url, res.StatusCode, b)
	}
	return string(b)
}

func TestNotificationsOffByDefault(t *testing.T) {
	s := newNotifyService(t, nil, true)
	_, res := openStream(t, s.url, "")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(b), `"error":"Notification stream not enabled"`) {
		t.Fatalf("notifications off: %d %s, want 403 with Agent's words", res.StatusCode, b)
	}
	// The SDK key is checked first, as on /v1/override.
	_, res = openStream(t, s.url, "", "X-Optimizely-SDK-Key", "nope")
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("unknown SDK key: %d", res.StatusCode)
	}
	b, _ = io.ReadAll(res.Body)
	if strings.Contains(string(b), "Notification") {
		t.Errorf("unknown SDK key answered %s, want the SDK key's error", b)
	}
	// Decisions go on without a broadcaster.
	post(t, s.url+"/v1/decide?keys=new_search", `{"userId":"u1"}`)
}

func TestNotificationStreamFraming(t *testing.T) {
	s := newNotifyService(t, &NotificationOptions{}, true)
	st, res := openStream(t, s.url, "")
	for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache"} {
		if got := res.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	post(t, s.url+"/v1/decide?keys=dark_mode", `{"userId":"u1"}`)
	// The exact bytes: "data: " + one line of JSON + a blank line.
	line, err := st.sse.r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	blank, err := st.sse.r.ReadString('\n')
	if err != nil || blank != "\n" {
		t.Fatalf("after %q: %q, %v; want a blank line", line, blank, err)
	}
	if !strings.HasPrefix(line, "data: {") || !strings.HasSuffix(line, "}\n") || !json.Valid([]byte(line[len("data: "):])) {
		t.Fatalf("frame %q is not data: <JSON>", line)
	}

	// HEAD answers the headers and ends.
	head, err := http.Head(s.url + "/v1/notifications/event-stream")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != 200 || head.Header.Get("Content-Type") != "text/event-stream" {
		t.Errorf("HEAD: %d %v", head.StatusCode, head.Header)
	}

	// ?raw: one JSON document per line, as Agent's.
	raw, _ := openStream(t, s.url, "?raw=yes")
	post(t, s.url+"/v1/decide?keys=dark_mode", `{"userId":"u2"}`)
	l, err := raw.sse.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(l, `{"Type":"flag"`) || !json.Valid([]byte(l)) {
		t.Fatalf("raw line %q, %v", l, err)
	}
}

// sentinel makes a notification of a known shape, so a test can tell
// that nothing came before it.
func sentinel(t *testing.T, s *notifyService, st *sseStream) {
	t.Helper()
	post(t, s.url+"/v1/track?eventKey=purchase", `{"userId":"sentinel"}`)
	if got := st.next(t); !strings.Contains(got, `"ID":"sentinel"`) {
		t.Fatalf("next message %s, want the sentinel's track", got)
	}
}

func TestNotificationFilter(t *testing.T) {
	s := newNotifyService(t, &NotificationOptions{}, true)
	all, _ := openStream(t, s.url, "")
	dec, _ := openStream(t, s.url, "?filter=decision")
	trk, _ := openStream(t, s.url, "?filter=track")
	both, _ := openStream(t, s.url, "?filter=decision,track&filter=track")
	cfg, _ := openStream(t, s.url, "?filter=project_config_update&filter=nonsense")
	other, _ := openStream(t, s.url, "?filter=nonsense")

	post(t, s.url+"/v1/decide?keys=dark_mode", `{"userId":"u1"}`)
	post(t, s.url+"/v1/track?eventKey=purchase", `{"userId":"u1"}`)
	post(t, s.url+"/v1/track?eventKey=unknown", `{"userId":"u1"}`) // no notification

	isDecision := func(m string) bool { return strings.HasPrefix(m, `{"Type":"flag"`) }
	isTrack := func(m string) bool { return strings.HasPrefix(m, `{"EventKey":"purchase"`) }
	if m := all.next(t); !isDecision(m) {
		t.Errorf("all, first: %s", m)
	}
	if m := all.next(t); !isTrack(m) {
		t.Errorf("all, second: %s", m)
	}
	if m := both.next(t); !isDecision(m) {
		t.Errorf("decision,track, first: %s", m)
	}
	if m := both.next(t); !isTrack(m) {
		t.Errorf("decision,track, second: %s", m)
	}
	if m := dec.next(t); !isDecision(m) {
		t.Errorf("decision: %s", m)
	}
	if m := trk.next(t); !isTrack(m) {
		t.Errorf("track: %s", m)
	}
	// The unknown event notified nothing; the silent streams got nothing:
	// a decision is the next message of the decision stream, and the
	// silent ones end empty when the service stops.
	post(t, s.url+"/v1/decide?keys=new_search", `{"userId":"u2"}`)
	if m := dec.next(t); !strings.Contains(m, `"new_search"`) {
		t.Errorf("decision after the unknown event: %s", m)
	}
	sentinel(t, s, trk)
	s.notes.Close()
	for name, st := range map[string]*sseStream{"project_config_update": cfg, "nonsense": other} {
		if ev, err := st.sse.next(); err == nil {
			t.Errorf("filter %s received %q", name, ev.data)
		}
	}
}

func TestNotificationsPerSDKKey(t *testing.T) {
	n, err := NewNotifications(NotificationOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := n.subscribe("a", maskAll)
	b, _ := n.subscribe("b", maskAll)
	n.publish("a", maskDecision, []byte("1"))
	if len(a.ch) != 1 || len(b.ch) != 0 {
		t.Fatalf("a has %d, b has %d; want 1 and 0", len(a.ch), len(b.ch))
	}
	<-a.ch
	// A new revision goes to the key's subscribers that want it, in the
	// SDK's words.
	dec, _ := n.subscribe("b", maskDecision)
	n.DatafileUpdated("b", "7")
	if len(a.ch) != 0 || len(dec.ch) != 0 || len(b.ch) != 1 {
		t.Fatalf("a has %d, b's decision subscriber %d, b %d; want 0, 0 and 1", len(a.ch), len(dec.ch), len(b.ch))
	}
	if got := string(<-b.ch); got != `{"Type":"project_config_update","Revision":"7"}` {
		t.Errorf("config update: %s", got)
	}
	var none *Notifications
	none.DatafileUpdated("b", "8") // safe when off
}

// TestSlowSubscriberDropsAndNeverBlocks: a subscriber that takes nothing
// loses what its buffer cannot hold, counted, while every decision
// answers; the others still get every message.
func TestSlowSubscriberDropsAndNeverBlocks(t *testing.T) {
	s := newNotifyService(t, &NotificationOptions{Buffer: 2}, false)
	slow, err := s.notes.subscribe("k1", maskAll) // never read
	if err != nil {
		t.Fatal(err)
	}
	defer s.notes.unsubscribe(slow)
	fast, _ := openStream(t, s.url, "")
	// Each decision answers although the slow subscriber never reads; the
	// other stream, read as it goes, gets every message.
	const n = 20
	for i := range n {
		post(t, s.url+"/v1/decide?keys=dark_mode", fmt.Sprintf(`{"userId":"u%d"}`, i))
		if m := fast.next(t); !strings.Contains(m, fmt.Sprintf(`"ID":"u%d"`, i)) {
			t.Fatalf("message %d: %s", i, m)
		}
	}
	if got := counterValue(t, s.notes.dropped); got != n-2 {
		t.Errorf("dropped: %v, want %d (the slow subscriber's buffer holds 2)", got, n-2)
	}
	if len(slow.ch) != 2 {
		t.Errorf("the slow subscriber holds %d, want its buffer's 2", len(slow.ch))
	}
	if !strings.Contains(metricsText(t, s.reg), "stickybucket_notifications_dropped_total") {
		t.Error("the dropped counter is not registered")
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func metricsText(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	return strings.Join(names, "\n")
}

func TestNotificationSubscriberCap(t *testing.T) {
	s := newNotifyService(t, &NotificationOptions{MaxSubscribers: 1}, false)
	first, _ := openStream(t, s.url, "")
	_, res := openStream(t, s.url, "")
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "the limit is 1") {
		t.Fatalf("second stream: %d %s, want 503", res.StatusCode, b)
	}
	first.cancel()
	<-s.exited // the refused one's handler returned
	<-s.exited // and the first one's: its place is free
	second, res := openStream(t, s.url, "")
	if second == nil {
		t.Fatalf("after the first left: %d", res.StatusCode)
	}
}

// TestNotificationClientLeaves: a client that goes away ends its stream:
// the handler returns, the subscription is gone, and the goroutines with
// it.
func TestNotificationClientLeaves(t *testing.T) {
	s := newNotifyService(t, &NotificationOptions{}, false)
	post(t, s.url+"/v1/decide?keys=dark_mode", `{"userId":"warm"}`) // the server's pools
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	st, _ := openStream(t, s.url, "")
	if s.notes.Subscribers() != 1 {
		t.Fatalf("subscribers: %d", s.notes.Subscribers())
	}
	st.cancel()
	st.res.Body.Close()
	<-s.exited
	if n := s.notes.Subscribers(); n != 0 {
		t.Fatalf("subscribers after the client left: %d", n)
	}
	http.DefaultClient.CloseIdleConnections()
	// The connection's goroutines end once both sides closed it.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d, %d before the stream", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
		<-time.After(time.Millisecond)
	}
}

// TestNotificationStreamsEndOnShutdown: the server's graceful close ends
// the streams first, so it finishes at once instead of at its timeout;
// and a stream outlives the server's read and write timeouts.
func TestNotificationStreamsEndOnShutdown(t *testing.T) {
	s := newNotifyService(t, &NotificationOptions{}, false)
	srv, err := Listen(ServerOptions{
		API: s.handler, Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler),
		ReadTimeout: 50 * time.Millisecond, WriteTimeout: 50 * time.Millisecond,
		OnShutdown: s.notes.Close,
	})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addrs()[0].String()
	st, _ := openStream(t, base, "")
	<-time.After(200 * time.Millisecond) // past both timeouts
	post(t, base+"/v1/decide?keys=dark_mode", `{"userId":"late"}`)
	if m := st.next(t); !strings.Contains(m, `"ID":"late"`) {
		t.Fatalf("after the server's timeouts: %s", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("close took %v", took)
	}
	if _, err := st.sse.next(); !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("the stream after shutdown: %v, want its end", err)
	}
	// And a new stream is refused.
	if _, err := s.notes.subscribe("k1", maskAll); !errors.Is(err, errNotificationsClosed) {
		t.Errorf("subscribe after Close: %v", err)
	}
}

func TestNotificationStreamNotInBatch(t *testing.T) {
	s := newNotifyService(t, &NotificationOptions{}, false)
	out := post(t, s.url+"/v1/batch", `{"operations":[{"method":"GET","url":"/v1/notifications/event-stream","operationID":"1"}]}`)
	if !strings.Contains(out, `"status":400`) || !strings.Contains(out, "cannot be an operation of a batch") {
		t.Fatalf("batch: %s", out)
	}
	// A batch's decisions are notified as the routes' are.
	st, _ := openStream(t, s.url, "")
	out = post(t, s.url+"/v1/batch", `{"operations":[{"method":"POST","url":"/v1/decide?keys=dark_mode","operationID":"1","headers":{"Content-Type":"application/json"},"body":{"userId":"b1"}}]}`)
	if !strings.Contains(out, `"status":200`) {
		t.Fatalf("batch decide: %s", out)
	}
	if m := st.next(t); !strings.Contains(m, `"ID":"b1"`) {
		t.Fatalf("batch decide: %s", m)
	}
}

// normalizeNotification decodes a notification and puts the SDK's
// map-ordered lists in order: a conversion's attributes by key.
func normalizeNotification(t testing.TB, msg []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(msg, &m); err != nil {
		t.Fatalf("%s: %v", msg, err)
	}
	if conv, ok := m["ConversionEvent"].(map[string]any); ok {
		if attrs, ok := conv["Attributes"].([]any); ok {
			sort.Slice(attrs, func(i, j int) bool {
				return attrs[i].(map[string]any)["key"].(string) < attrs[j].(map[string]any)["key"].(string)
			})
		}
	}
	return m
}

func sortedJSON(t testing.TB, ms []map[string]any) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	slices.Sort(out)
	return out
}

// notificationRecorder collects what an SDK's notification center sends.
type notificationRecorder struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (r *notificationRecorder) take() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.msgs
	r.msgs = nil
	return out
}

func eq(a, b any) bool { return reflect.DeepEqual(a, b) }

func decideRequest(i int) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/v1/decide?keys=new_search", strings.NewReader(fmt.Sprintf(`{"userId":"user-%d","userAttributes":{"country":"de","plan":"pro"}}`, i%1000)))
	req.Header.Set("Content-Type", "application/json")
	return req
}

// TestNotificationsCostNothingWithoutSubscribers: with the stream on and
// no one listening, a decision allocates what it does with the stream off.
func TestNotificationsCostNothingWithoutSubscribers(t *testing.T) {
	allocs := func(h http.Handler) float64 {
		i := 0
		return testing.AllocsPerRun(500, func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, decideRequest(i))
			i++
			if w.Code != 200 {
				t.Fatalf("decide: %d %s", w.Code, w.Body)
			}
		})
	}
	off := allocs(newNotifyService(t, nil, false).handler)
	on := newNotifyService(t, &NotificationOptions{}, false)
	idle := allocs(on.handler)
	// Under the race detector sync.Pool drops some of what is put back, so
	// the counts of the two runs may differ by one either way; without it
	// they are exact.
	slack := 0.0
	if raceEnabled {
		slack = 1
	}
	if idle > off+slack {
		t.Errorf("a decide allocates %v times with notifications on and no subscriber, %v with them off", idle, off)
	}
	// And one subscriber does cost: the test measures what it claims.
	sub, _ := on.notes.subscribe("k1", maskAll)
	defer on.notes.unsubscribe(sub)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-sub.ch:
			case <-done:
				return
			}
		}
	}()
	if busy := allocs(on.handler); busy <= off+slack {
		t.Errorf("with a subscriber a decide allocates %v times, no more than without (%v): the measure is broken", busy, off)
	}
}

// BenchmarkDecideHandlerNotifications is BenchmarkDecideHandler's decide
// (on this file's datafile) with the notification stream off, on with no
// subscriber, and on with one subscriber taking every message.
func BenchmarkDecideHandlerNotifications(b *testing.B) {
	run := func(b *testing.B, h http.Handler) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, decideRequest(i))
			i++
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	}
	b.Run("off", func(b *testing.B) { run(b, newNotifyService(b, nil, false).handler) })
	b.Run("idle", func(b *testing.B) { run(b, newNotifyService(b, &NotificationOptions{}, false).handler) })
	b.Run("subscribed", func(b *testing.B) {
		s := newNotifyService(b, &NotificationOptions{}, false)
		sub, _ := s.notes.subscribe("k1", maskAll)
		defer s.notes.unsubscribe(sub)
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-sub.ch:
				case <-done:
					return
				}
			}
		}()
		run(b, s.handler)
	})
}
