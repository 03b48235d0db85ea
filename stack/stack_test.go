package stack

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

func parse(t *testing.T, yaml string) config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

const memoryEnv = `
environments:
  development:
    retention: 30d
    refresh_after: 3d
    reset: {"3003": 2026-11-01T00:00:00Z}
    replication: {class: SimpleStrategy, replication_factor: 1}
`

func TestOpenMemoryDefaults(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, parse(t, memoryEnv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Memory == nil || s.Profiles != ups.Service(s.Memory) || s.Cache != nil || s.Saver != nil || s.Breaker != nil {
		t.Errorf("default stack: profiles %T cache %v saver %v breaker %v; want the bare memory store", s.Profiles, s.Cache, s.Saver, s.Breaker)
	}
	df := loadDatafile(t)
	o := s.DecisionOptions(df)
	if o.RefreshAfter != 3*24*time.Hour || o.StoreBudget != 0 || !o.Resets["3003"].Before.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("decision options %+v: want refresh 72h, no budget for memory, the reset", o)
	}
	if err := s.Ready(ctx); err != nil {
		t.Errorf("Ready: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLayersFromConfig(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, memoryEnv+`
store:
  cache: {size: 100, ttl: 10s}
  saves: {mode: async, workers: 2, queue: 10}
`)
	reg := prometheus.NewRegistry()
	var observed atomic.Int64
	s, err := Open(ctx, cfg, Options{Registry: reg, ObserveStore: func(string, time.Duration, error) { observed.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	if s.Profiles != ups.Service(s.Cache) || s.Cache == nil || s.Saver == nil || s.Breaker != nil {
		t.Fatalf("stack: top %T cache %v saver %v breaker %v", s.Profiles, s.Cache, s.Saver, s.Breaker)
	}
	c, err := s.NewClient(loadDatafile(t))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := c.Decide(ctx, decision.User{ID: "u" + string(rune('a'+i%26)) + strings.Repeat("x", i)}, "new_search"); err != nil {
			t.Fatal(err)
		}
	}
	// Close drains the async saves into the store before closing it.
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(s.Memory.Profiles()); n != 50 {
		t.Errorf("%d profiles in the store after Close, want 50 (every queued save written)", n)
	}
	if observed.Load() == 0 {
		t.Error("store calls were not observed")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range []string{"stickybucket_cache_hits_total", "stickybucket_async_queue_depth", "stickybucket_async_written_total"} {
		if !names[want] {
			t.Errorf("metric %s not registered", want)
		}
	}
}

// TestOpenRejectsAnUnknownFullPolicy: a configuration that skipped
// validation does not get a default in place of a policy it misspelt.
func TestOpenRejectsAnUnknownFullPolicy(t *testing.T) {
	cfg := parse(t, memoryEnv+`
store:
  saves: {mode: async}
`)
	cfg.Store.Saves.OnFull = "wait-then-dorp"
	s, err := Open(context.Background(), cfg, Options{})
	if err == nil {
		_ = s.Close(context.Background())
		t.Fatal("Open accepted an unknown store.saves.on_full")
	}
	if msg := err.Error(); !strings.Contains(msg, "store.saves.on_full") || !strings.Contains(msg, `"wait-then-dorp"`) || !strings.Contains(msg, "write-through") {
		t.Fatalf("Open = %v, want the key, the name and the valid ones", err)
	}
}

func TestOpenCassandraUnreachable(t *testing.T) {
	cfg := parse(t, memoryEnv+`
store: {kind: cassandra}
cassandra: {hosts: [127.0.0.1], port: 1, connect_timeout: 200ms, timeout: 200ms}
`)
	_, err := Open(context.Background(), cfg, Options{})
	if err == nil || !strings.Contains(err.Error(), "connect to Cassandra at [127.0.0.1]") {
		t.Fatalf("Open on a closed port = %v, want an error naming the hosts", err)
	}
}

func loadDatafile(t *testing.T) *decision.Datafile {
	t.Helper()
	df, err := decision.ParseDatafile(mustRead(t, "../examples/datafile-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	return df
}

// closeCounter is a store that counts its Close calls.
type closeCounter struct {
	*ups.Memory
	closes atomic.Int32
}

func (c *closeCounter) Close(ctx context.Context) error {
	c.closes.Add(1)
	return c.Memory.Close(ctx)
}

// TestCloseTwice: a second Close does nothing and returns nil, whatever
// the layers would do when closed again.
func TestCloseTwice(t *testing.T) {
	ctx := context.Background()
	m, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store := &closeCounter{Memory: m}
	s, err := Open(ctx, parse(t, memoryEnv+`
store:
  cache: {size: 100, ttl: 10s}
  saves: {mode: async, workers: 2, queue: 10}
`), Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
	if n := store.closes.Load(); n != 1 {
		t.Errorf("the store was closed %d times, want once", n)
	}
}

// TestBackgroundWritesShared: with Cassandra every decision client of the
// stack shares the stack's background writes (one bound, one set of
// counters, waited for by Close); the in-memory store has none.
func TestBackgroundWritesShared(t *testing.T) {
	ctx := context.Background()
	mem, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := parse(t, `
environments:
  development:
    replication: {class: SimpleStrategy, replication_factor: 1}
store: {kind: cassandra}
`)
	s, err := Open(ctx, cfg, Options{Store: mem, Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	df := loadDatafile(t)
	if s.Background == nil || s.DecisionOptions(df).BackgroundWrites != s.Background {
		t.Fatalf("Cassandra stack: background %p, a client's %p: want one, shared", s.Background, s.DecisionOptions(df).BackgroundWrites)
	}
	m, err := Open(ctx, parse(t, memoryEnv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	if m.Background != nil {
		t.Fatal("the in-memory stack has background writes; its decisions have no budget")
	}
}
