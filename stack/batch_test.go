package stack

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/config"
)

// TestServiceBatchLimits: server.batch_requests reaches /v1/batch.
func TestServiceBatchLimits(t *testing.T) {
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	cfg := parse(t, memoryEnv+`
server:
  listen: "127.0.0.1:0"
  admin_listen: "off"
  shutdown_timeout: 5s
  batch_requests: {max_concurrency: 2, operations_limit: 3}
`)
	cfg.Datafiles = []config.DatafileSource{{SDKKey: "k1", URL: df.URL, PollEvery: config.Duration(24 * time.Hour)}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	svc := startService(t, cfg, ServiceOptions{})
	api := "http://" + svc.Addrs()[0].String()
	batch := func(n int) (int, string) {
		ops := make([]string, n)
		for i := range ops {
			ops[i] = `{"method":"GET","url":"/v1/config"}`
		}
		res, err := http.Post(api+"/v1/batch", "application/json", strings.NewReader(`{"operations":[`+strings.Join(ops, ",")+`]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, body := batch(4); code != 422 || !strings.Contains(body, "exceeding 3 operations") {
		t.Errorf("4 operations: %d %s, want 422 over operations_limit 3", code, body)
	}
	if code, body := batch(3); code != 200 || !strings.Contains(body, `"errorCount":0`) {
		t.Errorf("3 operations: %d %s", code, body)
	}
}
