package integration

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// docker pauses or unpauses the test node.
func docker(ctx context.Context, verb string) error {
	switch verb {
	case "pause":
		return cass.Node(0).Pause(ctx)
	case "unpause":
		return cass.Node(0).Unpause(ctx)
	}
	return fmt.Errorf("docker %s: not a verb the harness offers", verb)
}

// waitWritten waits until no save the saver accepted is pending (each is
// written, or failed), or ctx ends.
func waitWritten(ctx context.Context, async *ups.AsyncSaver) error {
	for async.Stats().Pending != 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d accepted saves still pending: %w", async.Stats().Pending, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// TestLayersRideOutAPausedNode freezes the node with docker pause while
// saves go through Cache(AsyncSaver(Breaker(store))): every save is
// accepted at once, the breaker opens and fails lookups fast, the saver
// retries, and once the node is unpaused every accepted save is written
// and the breaker closes again.
func TestLayersRideOutAPausedNode(t *testing.T) {
	if !cass.Managed() {
		t.Skip("CASSANDRA_HOSTS names an existing cluster; this test pauses the container it would start")
	}
	ctx := context.Background()
	store := newStore(t, env(t, keyspace(t, "layers_pause"), time.Hour, nil))
	br, err := ups.NewBreaker(store, ups.BreakerOptions{Failures: 3, OpenFor: time.Second, Probes: 1})
	if err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int64
	async, err := ups.NewAsyncSaver(br, ups.AsyncOptions{
		Timeout:      time.Second,
		RetryFor:     3 * time.Minute,
		RetryInitial: 100 * time.Millisecond,
		RetryMax:     time.Second,
		OnError: func(p ups.Profile, err error) {
			failed.Add(1)
			t.Errorf("save of %s given up: %v", p.UserID, err)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := ups.NewCache(async, ups.CacheOptions{Size: 1000, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := cache.Close(closeCtx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	// Connected and warm before the fault.
	warm := ups.NewProfile("user-warm")
	warm.Set("1001", "2001")
	if err := cache.Save(ctx, warm); err != nil {
		t.Fatal(err)
	}
	warmCtx, cancelWarm := context.WithTimeout(ctx, time.Minute)
	defer cancelWarm()
	if err := waitWritten(warmCtx, async); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Lookup(ctx, "user-warm"); err != nil { // now cached
		t.Fatal(err)
	}

	if err := docker(ctx, "pause"); err != nil {
		t.Fatal(err)
	}
	paused, pausedAt := true, time.Now()
	defer func() {
		if paused {
			if err := docker(context.Background(), "unpause"); err != nil {
				t.Errorf("unpause after a failed test: %v", err)
			}
		}
	}()
	const users = 50
	for i := range users {
		p := ups.NewProfile(fmt.Sprintf("user-%d", i))
		p.Set("1001", fmt.Sprintf("var-%d", i))
		if err := cache.Save(ctx, p); err != nil {
			t.Fatalf("Save while the node is paused: %v", err)
		}
	}
	// The writes time out one by one until the breaker opens.
	deadline := time.Now().Add(2 * time.Minute)
	for br.Health().State != ups.BreakerOpen {
		if time.Now().After(deadline) {
			t.Fatalf("breaker still %s after 2 minutes of a paused node", br.Health().State)
		}
		time.Sleep(50 * time.Millisecond)
	}
	h := br.Health()
	if !ups.Unavailable(h.LastError) {
		t.Errorf("breaker's last error %v is not an unavailable store", h.LastError)
	}
	start := time.Now()
	_, err = cache.Lookup(ctx, "user-not-cached")
	fast := time.Since(start)
	if !errors.Is(err, ups.ErrCircuitOpen) {
		t.Fatalf("Lookup with the breaker open = %v, want ErrCircuitOpen", err)
	}
	// Cached users are still served: user-warm was read before the pause.
	if a, ok, err := cache.LookupAssignment(ctx, "user-warm", "1001"); err != nil || !ok || a.VariationID != "2001" {
		t.Errorf("cached LookupAssignment while paused = %+v %v %v", a, ok, err)
	}
	// Stay down through many backoff rounds and half-open probes.
	for async.Stats().Retried < 40 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d retries in 2 minutes", async.Stats().Retried)
		}
		time.Sleep(50 * time.Millisecond)
	}
	down := time.Since(pausedAt)
	during := async.Stats()
	if during.Written != 1 || during.Retried == 0 {
		t.Errorf("stats while paused %+v: want only the warm-up written and retries", during)
	}

	if err := docker(ctx, "unpause"); err != nil {
		t.Fatal(err)
	}
	paused = false
	unpaused := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if err := waitWritten(waitCtx, async); err != nil {
		t.Fatalf("after unpause: %v", err)
	}
	recovered := time.Since(unpaused)
	for i := range users {
		id := fmt.Sprintf("user-%d", i)
		got, err := store.Lookup(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := got.Variation("1001"); v != fmt.Sprintf("var-%d", i) {
			t.Fatalf("%s: stored 1001=%q after the node came back", id, v)
		}
	}
	st := async.Stats()
	if st.Written != users+1 || st.Failed != 0 || failed.Load() != 0 {
		t.Errorf("stats %+v: want every accepted save written", st)
	}
	if _, err := cache.Lookup(ctx, "user-0"); err != nil {
		t.Errorf("Lookup after recovery: %v", err)
	}
	final := br.Health()
	if final.State != ups.BreakerClosed {
		t.Errorf("breaker %+v after recovery, want closed", final)
	}
	t.Logf("node paused for %s: breaker opened after %d consecutive failures (last: %v); a lookup on the open breaker failed in %s; "+
		"%d write attempts retried, %d refused by the breaker; after unpause all %d queued saves were written in %s",
		down.Round(time.Millisecond), h.ConsecutiveFailures, h.LastError, fast, st.Retried, final.Rejected, users, recovered.Round(time.Millisecond))
}
