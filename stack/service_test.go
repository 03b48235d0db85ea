package stack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/config"
)

// datafileServer serves a datafile at its URL; set replaces it.
type datafileServer struct {
	*httptest.Server
	body atomic.Value // []byte
}

func newDatafileServer(t *testing.T, body []byte) *datafileServer {
	t.Helper()
	d := &datafileServer{}
	d.body.Store(body)
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write(d.body.Load().([]byte))
	}))
	t.Cleanup(d.Close)
	return d
}

// serviceConfig is the in-memory store on loopback with the datafile at
// url, polled no more than once a day (reloads come from SIGHUP).
func serviceConfig(t *testing.T, url string) config.Config {
	t.Helper()
	cfg := parse(t, memoryEnv+`
server: {listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0", shutdown_timeout: 5s}
`)
	cfg.Datafiles = []config.DatafileSource{{SDKKey: "k1", URL: url, PollEvery: config.Duration(24 * time.Hour)}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func revision(t *testing.T, api string) string {
	t.Helper()
	res, err := http.Get(api + "/v1/config")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct {
		Revision string `json:"revision"`
	}
	if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c.Revision
}

// TestServiceSignals: SIGHUP reloads the datafiles and the service goes
// on; SIGTERM stops it, and Run closes everything it started.
func TestServiceSignals(t *testing.T) {
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	// Unbuffered: a send returns only once the service's loop has taken
	// the signal, so a second send means the first one was handled.
	signals := make(chan os.Signal)
	svc := startService(t, serviceConfig(t, df.URL), ServiceOptions{Signals: signals})
	addrs := svc.Addrs()
	if len(addrs) != 2 {
		t.Fatalf("addresses %v, want the API's and the admin's", addrs)
	}
	api, admin := "http://"+addrs[0].String(), "http://"+addrs[1].String()
	ran := make(chan error, 1)
	go func() { ran <- svc.Run(context.Background()) }()

	if got := revision(t, api); got != "1" {
		t.Fatalf("revision %q served, want 1", got)
	}
	res, err := http.Get(admin + "/ready")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("/ready: %d", res.StatusCode)
	}

	df.body.Store(mustRead(t, "../examples/datafile-v2.json"))
	signals <- syscall.SIGHUP
	signals <- syscall.SIGHUP // taken once the first reload is done
	if got := revision(t, api); got != "2" {
		t.Fatalf("revision %q served after SIGHUP, want 2", got)
	}

	signals <- syscall.SIGTERM
	if err := <-ran; err != nil {
		t.Fatalf("Run after SIGTERM: %v", err)
	}
	if _, err := http.Get(api + "/v1/config"); err == nil {
		t.Error("the API still answers after Run returned")
	}
	if err := svc.Close(); err != nil {
		t.Errorf("Close after Run: %v, want nil", err)
	}
}

// TestServiceStopsWithItsContext: Run returns once its context ends.
func TestServiceStopsWithItsContext(t *testing.T) {
	df := newDatafileServer(t, mustRead(t, "../examples/datafile-v1.json"))
	svc := startService(t, serviceConfig(t, df.URL), ServiceOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := svc.Run(ctx); err != nil {
		t.Fatalf("Run with its context done: %v", err)
	}
}

// TestServiceRefusesToStart: a failed start says why and leaves nothing
// running.
func TestServiceRefusesToStart(t *testing.T) {
	df := newDatafileServer(t, []byte(`{"version": "4", "experiments": [{"id": 7}]}`))
	var logs strings.Builder
	_, err := NewService(context.Background(), serviceConfig(t, df.URL), ServiceOptions{Log: slog.New(slog.NewTextHandler(&logs, nil)), Signals: make(chan os.Signal)})
	if err == nil {
		t.Fatal("NewService with a broken datafile succeeded")
	}
	if !strings.Contains(logs.String(), "profile store closed") {
		t.Errorf("the store opened before the datafiles was not closed; logs:\n%s", logs.String())
	}

	cfg := serviceConfig(t, df.URL)
	cfg.Server.Listen = "0.0.0.0:0"
	if _, err := NewService(context.Background(), cfg, ServiceOptions{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}); err == nil || !strings.Contains(err.Error(), "server.listen") {
		t.Errorf("NewService on every interface without tokens = %v, want an error naming server.listen", err)
	}
}
