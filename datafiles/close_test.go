package datafiles

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stickybucket/stickybucket/decision"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Close stops the watcher and the pollers: no goroutine is left (goleak
// retries for a bounded time while they exit).
func TestCloseStopsWatchersAndPollers(t *testing.T) {
	base := goleak.IgnoreCurrent()
	c, srv := newCDN(t, datafile(t, "1"), `"v1"`)
	srcs, _ := files(t, "file-a", "file-b")
	srcs["url"] = URL{URL: srv.URL, Client: srv.Client()}
	s, err := New(Options{Sources: srcs, PollInterval: time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Error("a second Start succeeded")
	}
	hits, _ := c.counts()
	c.mu.Lock()
	c.hit = make(chan struct{}, 1)
	c.mu.Unlock()
	c.waitHits(t, hits+3) // the poller runs

	ctx, cancel := context.WithTimeout(t.Context(), testDeadline)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	srv.Close()
	goleak.VerifyNone(t, base)

	if _, err := s.Get("url"); err != nil {
		t.Errorf("Get after Close: %v", err)
	}
	for name, err := range map[string]error{"Start": s.Start(), "Reload": s.Reload(t.Context()), "Load": s.Load(t.Context())} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

// A refresh that does not finish in time is reported by Close, with its
// SDK key; a later Close waits for it.
func TestCloseReportsUnfinishedRefresh(t *testing.T) {
	base := goleak.IgnoreCurrent()
	v1, v2 := datafile(t, "1"), datafile(t, "2")
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			_, _ = w.Write(v1)
			return
		}
		_, _ = w.Write(v2)
	}))
	entered, release := make(chan struct{}), make(chan struct{})
	s, err := New(Options{
		Sources:      map[string]Source{"stuck": URL{URL: srv.URL, Client: srv.Client()}},
		PollInterval: time.Millisecond,
		Logger:       testLogger(t),
		Parse: func(b []byte) (*decision.Datafile, error) {
			df, err := decision.ParseDatafile(b)
			if err == nil && df.Revision() == "2" {
				close(entered) // only once: revision 2 is then in force
				<-release
			}
			return df, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(testDeadline):
		t.Fatal("the poller never fetched revision 2")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = s.Close(ctx)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `"stuck"`) {
		t.Fatalf("Close while a refresh is stuck: %v; want the context's error naming the SDK key", err)
	}
	if got := revision(t, s, "stuck"); got != "1" {
		t.Errorf("%q in force during the stuck refresh, want 1", got)
	}
	close(release)
	ctx, cancel = context.WithTimeout(t.Context(), testDeadline)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close after the refresh finished: %v", err)
	}
	srv.Close()
	goleak.VerifyNone(t, base)
}
