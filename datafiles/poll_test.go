package datafiles

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// waitHits waits until the server has seen at least n requests.
func (c *cdn) waitHits(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(testDeadline)
	for {
		if hits, _ := c.counts(); hits >= n {
			return
		}
		select {
		case <-c.hit:
		case <-deadline:
			t.Fatalf("the server saw fewer than %d requests before the test deadline", n)
		}
	}
}

func newPolledCDN(t *testing.T) (*cdn, Source) {
	c, srv := newCDN(t, datafile(t, "1"), `"v1"`)
	c.mu.Lock()
	c.hit = make(chan struct{}, 1)
	c.mu.Unlock()
	return c, URL{URL: srv.URL + "/datafiles/k.json", Client: srv.Client()}
}

// A polled URL costs a 304 while unchanged; a new datafile is loaded; a
// failing server leaves the datafile in force.
func TestPollURL(t *testing.T) {
	c, src := newPolledCDN(t)
	s, rec := startedSet(t, Options{Sources: map[string]Source{"k": src}, PollInterval: 5 * time.Millisecond})

	c.waitHits(t, 6)
	if _, bodies := c.counts(); bodies != 1 {
		t.Errorf("%d bodies sent for an unchanged datafile, want 1 (then 304s)", bodies)
	}
	rec.none(t)

	c.set(datafile(t, "2"), `"v2"`)
	rec.waitLoaded(t, "k", "2")

	c.fail(http.StatusInternalServerError)
	ev := rec.next(t)
	if ev.err == nil || errors.Is(ev.err, ErrRejected) || ev.revision != "2" || !strings.Contains(ev.err.Error(), "500") {
		t.Fatalf("server failing: OnLoad(%q, %q, %v); want a fetch error with revision 2 in force", ev.key, ev.revision, ev.err)
	}
	if got := revision(t, s, "k"); got != "2" {
		t.Fatalf("%q in force while the server fails, want 2", got)
	}

	c.fail(0)
	c.set([]byte(`{"version": "4", "revision": "3", "rollouts": 7}`), `"v3"`)
	ev = rec.next(t)
	for ev.err != nil && !errors.Is(ev.err, ErrRejected) { // 500s still in the queue
		ev = rec.next(t)
	}
	if !errors.Is(ev.err, ErrRejected) || ev.revision != "2" {
		t.Fatalf("bad datafile served: OnLoad(%q, %q, %v); want a rejection", ev.key, ev.revision, ev.err)
	}
	// The rejected datafile is not fetched again in full.
	_, bodies := c.counts()
	hits, _ := c.counts()
	c.waitHits(t, hits+5)
	if _, now := c.counts(); now != bodies {
		t.Errorf("the rejected datafile was sent %d more times", now-bodies)
	}
	if got := revision(t, s, "k"); got != "2" {
		t.Fatalf("%q in force after a rejected datafile, want 2", got)
	}
}

// Refresh fetches one datafile now, long before its poll interval ends,
// and returns once it is in force; a rejected one is its error and the
// previous keeps serving; unknown keys and a closed Set are refused.
func TestRefresh(t *testing.T) {
	c, src := newPolledCDN(t)
	s, rec := startedSet(t, Options{Sources: map[string]Source{"k": src}, PollInterval: time.Hour})
	ctx := t.Context()
	if err := s.Refresh(ctx, "nope"); !errors.Is(err, ErrUnknownSDKKey) {
		t.Errorf("Refresh(unknown): %v, want ErrUnknownSDKKey", err)
	}
	if err := s.Refresh(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := revision(t, s, "k"); got != "1" {
		t.Fatalf("revision %q after an unchanged Refresh, want 1", got)
	}
	if c.ifNoneMatch() != `"v1"` {
		t.Errorf("Refresh sent If-None-Match %q, want the ETag in force", c.ifNoneMatch())
	}
	rec.none(t)

	c.set(datafile(t, "2"), `"v2"`)
	if err := s.Refresh(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got := revision(t, s, "k"); got != "2" {
		t.Fatalf("revision %q once Refresh returned, want 2", got)
	}
	if ev := rec.next(t); ev.err != nil || ev.revision != "2" {
		t.Errorf("OnLoad(%q, %q, %v), want revision 2 loaded", ev.key, ev.revision, ev.err)
	}

	c.set([]byte(`{"version": "4", "revision": "3", "rollouts": 7}`), `"v3"`)
	if err := s.Refresh(ctx, "k"); !errors.Is(err, ErrRejected) {
		t.Errorf("Refresh of a bad datafile: %v, want ErrRejected", err)
	}
	if got := revision(t, s, "k"); got != "2" {
		t.Fatalf("revision %q after a rejected datafile, want 2", got)
	}

	closeCtx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	if err := s.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx, "k"); !errors.Is(err, ErrClosed) {
		t.Errorf("Refresh after Close: %v, want ErrClosed", err)
	}
}
