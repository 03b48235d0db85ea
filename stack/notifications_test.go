package stack

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/config"
)

// TestServiceNotifications: server.notifications reaches the API (off by
// default: 403; on: a stream with the cap configured), a datafile's new
// revision is notified as the SDK's project_config_update, and Close ends
// the open streams before it waits for the requests in flight, so it
// returns at once and without error although a stream was open.
func TestServiceNotifications(t *testing.T) {
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	start := func(extra string) (*Service, string) {
		cfg := parse(t, memoryEnv+`
server:
  listen: "127.0.0.1:0"
  admin_listen: "off"
  shutdown_timeout: 20s
`+extra)
		cfg.Datafiles = []config.DatafileSource{{SDKKey: "k1", URL: df.URL, PollEvery: config.Duration(24 * time.Hour)}}
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		svc := startService(t, cfg, ServiceOptions{})
		return svc, "http://" + svc.Addrs()[0].String()
	}
	open := func(ctx context.Context, api string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, api+"/v1/notifications/event-stream", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	off, api := start("")
	res := open(ctx, api)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "Notification stream not enabled") {
		t.Errorf("by default: %d %s, want 403", res.StatusCode, b)
	}
	if err := off.Close(); err != nil {
		t.Fatal(err)
	}

	on, api := start("  notifications: {enabled: true, max_subscribers: 1}\n")
	defer on.Close()
	stream := open(ctx, api)
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("enabled: %d", stream.StatusCode)
	}
	second := open(ctx, api)
	second.Body.Close()
	if second.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a second stream with max_subscribers 1: %d, want 503", second.StatusCode)
	}
	dec, err := http.Post(api+"/v1/decide?keys=dark_mode", "application/json", strings.NewReader(`{"userId":"u1"}`))
	if err != nil {
		t.Fatal(err)
	}
	dec.Body.Close()
	br := bufio.NewReader(stream.Body)
	line, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, `data: {"Type":"flag"`) {
		t.Fatalf("stream: %q, %v", line, err)
	}
	// A reload that finds the same revision notifies nothing; one that
	// changes it sends the SDK's project_config_update.
	if err := on.set.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	df.body.Store(mustRead(t, "../examples/datafile-v2.json"))
	if err := on.set.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if blank, err := br.ReadString('\n'); blank != "\n" || err != nil {
		t.Fatalf("after the decision: %q, %v", blank, err)
	}
	line, err = br.ReadString('\n')
	if want := `data: {"Type":"project_config_update","Revision":"2"}` + "\n"; line != want || err != nil {
		t.Fatalf("after the reload: %q, %v; want %q", line, err, want)
	}
	began := time.Now()
	if err := on.Close(); err != nil {
		t.Fatalf("close with a stream open: %v", err)
	}
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("close took %v with a stream open (shutdown_timeout 20s)", took)
	}
}
