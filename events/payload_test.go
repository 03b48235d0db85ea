package events

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// A batch is the event API's JSON, as the SDKs write it: one visitor per
// event with one snapshot; an impression's decision and
// campaign_activated event; a conversion's event with its tags, revenue
// and value; empty tags, and revenue or value that are not there, left
// out.
func TestEncodeBatch(t *testing.T) {
	p := testProject(t, "12002", "7", "")
	u := User{ID: "alice", Attributes: map[string]any{"plan": "pro", "other": 1.0}}
	items := []item{
		{project: p, visitorID: u.ID, attributes: u.Attributes, timestamp: 1700000000123, impression: true, decision: featureTest},
		{project: p, visitorID: "bob", timestamp: 1700000000456, eventID: "e1", eventKey: "purchase",
			tags: map[string]any{"revenue": 1299.0, "value": 12.99, "category": "shoes"}},
		{project: p, visitorID: "carol", timestamp: 1700000000789, eventID: "e1", eventKey: "purchase", tags: map[string]any{}},
	}
	n := 0
	uuid := func() string { n++; return []string{"", "u-1", "u-2", "u-3"}[n] }
	body, bad := encodeBatch(p.header(), clientID{"stickybucket", "1.2.3"}, items, uuid)
	if bad != 0 {
		t.Fatal(bad)
	}
	var got any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	const want = `{"account_id":"acc","project_id":"12002","revision":"7","client_name":"stickybucket","client_version":"1.2.3",
	"anonymize_ip":true,"enrich_decisions":true,"visitors":[
	 {"visitor_id":"alice","attributes":[{"entity_id":"a1","key":"plan","type":"custom","value":"pro"},
	   {"entity_id":"$opt_bot_filtering","key":"$opt_bot_filtering","type":"custom","value":false}],
	  "snapshots":[{"decisions":[{"campaign_id":"9001","experiment_id":"3003","variation_id":"4005",
	     "metadata":{"flag_key":"new_search","rule_key":"search_experiment","rule_type":"feature-test","variation_key":"classic","enabled":true}}],
	   "events":[{"entity_id":"9001","key":"campaign_activated","timestamp":1700000000123,"uuid":"u-1"}]}]},
	 {"visitor_id":"bob","attributes":[{"entity_id":"$opt_bot_filtering","key":"$opt_bot_filtering","type":"custom","value":false}],
	  "snapshots":[{"events":[{"entity_id":"e1","key":"purchase","timestamp":1700000000456,"uuid":"u-2","revenue":1299,"value":12.99,
	   "tags":{"revenue":1299,"value":12.99,"category":"shoes"}}]}]},
	 {"visitor_id":"carol","attributes":[{"entity_id":"$opt_bot_filtering","key":"$opt_bot_filtering","type":"custom","value":false}],
	  "snapshots":[{"events":[{"entity_id":"e1","key":"purchase","timestamp":1700000000789,"uuid":"u-3"}]}]}]}`
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, w) {
		t.Errorf("batch:\n%s\nwant:\n%s", body, want)
	}
}

// An event JSON cannot hold (a NaN tag from a Go caller) is refused as it
// is queued and counted; the others go.
func TestEventJSONCannotHoldIsRejected(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, nil, false)
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 1})
	proj := testProject(t, "1", "1", "")
	if p.Conversion(proj, User{ID: "a"}, "purchase", map[string]any{"x": math.NaN()}) {
		t.Error("an event with a NaN tag was queued")
	}
	if !p.Conversion(proj, User{ID: "b"}, "purchase", nil) {
		t.Fatal("not queued")
	}
	if b := ep.next(t); len(b.Visitors) != 1 || b.Visitors[0]["visitor_id"] != "b" {
		t.Errorf("batch %+v", b)
	}
	closeNow(t, p)
	if s := p.Stats(); s.Queued != 2 || s.Sent != 1 || s.Dropped[DropRejected] != 1 || s.Pending != 0 || s.PendingBytes != 0 {
		t.Errorf("stats %+v", s)
	}
}

// The first event JSON cannot hold is logged even when the endpoint has
// refused batches before: the log lines are spaced by the count of such
// events alone, not by every rejected one.
func TestUnencodableEventLoggedAfterRefusals(t *testing.T) {
	clock := newFakeClock()
	ep := newEndpoint(t, func(int64) int { return http.StatusBadRequest }, false)
	var logged bytes.Buffer
	var mu sync.Mutex
	p := newTestProcessor(t, clock, ep.URL, Options{BatchSize: 1, Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &logged, mu: &mu}, nil))})
	proj := testProject(t, "1", "1", "")
	if !p.Conversion(proj, User{ID: "a"}, "purchase", nil) {
		t.Fatal("not queued")
	}
	waitFor(t, func() bool { return p.Stats().Dropped[DropRejected] == 1 }) // the endpoint refused its batch
	if p.Conversion(proj, User{ID: "b"}, "purchase", map[string]any{"x": math.NaN()}) {
		t.Fatal("an event with a NaN tag was queued")
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Count(logged.String(), "tags JSON cannot hold"); got != 1 {
		t.Errorf("%d log lines about the NaN tag, want 1:\n%s", got, logged.String())
	}
	if s := p.Stats(); s.Dropped[DropRejected] != 2 {
		t.Errorf("stats %+v, want 2 rejected", s)
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// encodeBatch is the JSON of a batch of items as the processor writes it:
// the header, the visitors the items encode to (those that cannot be are
// left out and counted in bad), the end.
func encodeBatch(h header, client clientID, items []item, newUUID func() string) (body []byte, bad int) {
	body = appendHeader(nil, h, client)
	n := 0
	for i := range items {
		v, ok := appendVisitor(nil, &items[i], []byte(newUUID()))
		if !ok {
			bad++
			continue
		}
		if n > 0 {
			body = append(body, ',')
		}
		body = append(body, v...)
		n++
	}
	return append(body, batchEnd...), bad
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		a := newUUIDs().next()
		u := string(a[:])
		if !uuidV4.MatchString(u) || seen[u] {
			t.Fatalf("uuid %q (seen before: %v)", u, seen[u])
		}
		seen[u] = true
	}
}

// The hand-written JSON is what encoding/json writes, byte for byte.
func TestJSONAsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\t nl\n cr\r nul\x00 bell\x07 del\x7f",
		"é ユーザー 🙂", "bad \xff\xfe utf-8", "line\u2028sep\u2029", "<html>&"} {
		want, _ := json.Marshal(s)
		want = []byte(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(string(want))) // no HTML escaping
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
	for _, v := range []any{0.0, 1.0, -1.5, 1e-7, 1e-6, 123456789.0, 1e20, 1e21, 1.5e300, -2e-300, 0.1 + 0.2, float64(1 << 53),
		float32(0.1), float32(1e-7), float32(3e21), 7, int8(-8), int64(1 << 53), uint32(9), uint64(1 << 53), true, false, "s"} {
		want, _ := json.Marshal(v)
		if got := appendValue(nil, v); string(got) != string(want) {
			t.Errorf("appendValue(%T %v) = %s, want %s", v, v, got, want)
		}
	}
}
