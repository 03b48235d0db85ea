package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestNotificationsSideBySideWithAgent opens Optimizely Agent's stream
// (api.enableNotifications: true) and serve's on the same datafile, sends
// both the same decide and the same track, and compares the messages,
// every field (experimentId and variationId of the SDK Agent links among
// them), the conversion's attributes in key order (the SDK's follow a Go
// map's), and a decision's byte for byte. Agent writes its headers only with its first message, and gives
// no sign that a stream is subscribed: the request is sent for other
// users until the stream answers, then once for the compared user (a
// second decision for the same user would read its profile, and say so
// in its reasons).
func TestNotificationsSideBySideWithAgent(t *testing.T) {
	bin, why := agentBinaryPath()
	if bin == "" {
		t.Skip(why)
	}
	raw := purchaseDatafile(t, nil)
	agent := startAgent(t, bin, raw, "  enableNotifications: true\n")
	s := newNotifyService(t, &NotificationOptions{}, true)

	cases := []struct{ name, filter, url, body string }{
		{"decide", "decision", "/v1/decide?keys=new_search",
			`{"userId":"side-1","userAttributes":{"country":"de","plan":"pro","app_version":"3.2.0","$opt_x":"y"},"decideOptions":["INCLUDE_REASONS"]}`},
		{"decide a rollout", "decision", "/v1/decide?keys=dark_mode",
			`{"userId":"side-2","userAttributes":{"plan":"pro","app_version":"3.2.0"}}`},
		{"activate an experiment", "decision", "/v1/activate?experimentKey=checkout_button",
			`{"userId":"side-3","userAttributes":{"country":"fr"}}`},
		{"activate a feature", "decision", "/v1/activate?featureKey=new_search",
			`{"userId":"side-4"}`},
		{"track", "track", "/v1/track?eventKey=purchase",
			`{"userId":"side-5","userAttributes":{"country":"de","plan":"pro","unknown":1,"$opt_x":"y"},"eventTags":{"revenue":1299,"value":3.5,"category":"shoes"}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fromAgent := agentMessage(t, agent, c.filter, c.url, c.body)
			st, _ := openStream(t, s.url, "?filter="+c.filter)
			post(t, s.url+c.url, c.body)
			fromServe := st.next(t)
			t.Logf("Agent: %s\nserve: %s", fromAgent, fromServe)
			if c.filter == "decision" && fromAgent != fromServe {
				// No map-ordered list in a decision: the bytes are the same.
				t.Errorf("decision messages differ in bytes")
			}
			a, b := normalizeNotification(t, []byte(fromAgent)), normalizeNotification(t, []byte(fromServe))
			if !eq(a, b) {
				aj, _ := json.Marshal(a)
				bj, _ := json.Marshal(b)
				t.Errorf("messages differ:\nAgent: %s\nserve: %s", aj, bj)
			}
		})
	}
}

// agentMessage opens Agent's stream with filter, sends it the request
// for warm-up users (the body's "side-" user renamed) until the stream
// answers, then the request itself, and returns the data of the event of
// the request's user, checking the framing of each event.
func agentMessage(t *testing.T, base, filter, url, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/notifications/event-stream?filter="+filter, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Optimizely-SDK-Key", "k1")
	type answer struct {
		res *http.Response
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		answered <- answer{res, err}
	}()
	send := func(body string) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Optimizely-SDK-Key", "k1")
		res, err := agentClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("Agent %s: %d %s", url, res.StatusCode, b)
		}
	}
	var got answer
	for i := 0; got.res == nil && got.err == nil; i++ {
		if i == 100 {
			t.Fatal("Agent's stream sent nothing for 100 requests")
		}
		send(strings.Replace(body, `"side-`, fmt.Sprintf(`"warm%d-`, i), 1))
		select {
		case got = <-answered:
		case <-time.After(100 * time.Millisecond):
		}
	}
	if got.err != nil {
		t.Fatal(got.err)
	}
	defer got.res.Body.Close()
	if got.res.StatusCode != 200 || got.res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("Agent's stream: %d %v", got.res.StatusCode, got.res.Header)
	}
	send(body)
	br := bufio.NewReader(got.res.Body)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if blank, err := br.ReadString('\n'); err != nil || blank != "\n" || !strings.HasPrefix(line, "data: ") {
			t.Fatalf("Agent's framing: %q then %q (%v)", line, blank, err)
		}
		if !strings.Contains(line, `"ID":"warm`) {
			return strings.TrimSuffix(strings.TrimPrefix(line, "data: "), "\n")
		}
	}
}
