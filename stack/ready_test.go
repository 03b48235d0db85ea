package stack

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/stickybucket/stickybucket/ups"
)

// flakyStore is a memory store that refuses every call while down.
type flakyStore struct {
	*ups.Memory
	down atomic.Bool
}

func (f *flakyStore) err() error {
	if f.down.Load() {
		return ups.ErrUnavailable
	}
	return nil
}

func (f *flakyStore) Lookup(ctx context.Context, id string) (ups.Profile, error) {
	if err := f.err(); err != nil {
		return ups.Profile{}, err
	}
	return f.Memory.Lookup(ctx, id)
}

func (f *flakyStore) LookupAssignment(ctx context.Context, id, exp string) (ups.Assignment, bool, error) {
	if err := f.err(); err != nil {
		return ups.Assignment{}, false, err
	}
	return f.Memory.LookupAssignment(ctx, id, exp)
}

// TestReadyAgreesWithTheBreaker: /ready says ready exactly when
// stickybucket_breaker_open reads 0, and its probes, going through the
// breaker, close a half-open one when the store is back.
func TestReadyAgreesWithTheBreaker(t *testing.T) {
	ctx := context.Background()
	cfg := parse(t, memoryEnv+`
store:
  kind: cassandra
  cache: {size: 0}
  saves: {mode: sync}
  breaker: {failures: 2, open_for: 10ms}
`)
	m, _ := ups.NewMemory(ups.MemoryOptions{})
	store := &flakyStore{Memory: m}
	reg := prometheus.NewRegistry()
	s, err := Open(ctx, cfg, Options{Store: store, Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	open := func() float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "stickybucket_breaker_open" {
				return gaugeValue(mf.GetMetric()[0])
			}
		}
		t.Fatal("stickybucket_breaker_open not registered")
		return 0
	}
	// agree checks what one call of Ready said against the metric read
	// right after it.
	agree := func(when string, err error) {
		t.Helper()
		if (err == nil) != (open() == 0) {
			t.Fatalf("%s: Ready = %v but stickybucket_breaker_open = %v", when, err, open())
		}
	}
	agree("healthy", s.Ready(ctx))
	store.down.Store(true)
	for range 2 {
		_, _ = s.Profiles.Lookup(ctx, "u1")
	}
	err = s.Ready(ctx)
	if err == nil || !strings.Contains(err.Error(), "circuit open") {
		t.Fatalf("Ready with the breaker open = %v", err)
	}
	agree("open", err)
	store.down.Store(false)
	// Once open_for has passed the breaker is half-open: Ready probes it
	// (3 probes close it), and says not ready until it is closed.
	deadline := time.Now().Add(10 * time.Second)
	for s.Breaker.Health().State != ups.BreakerHalfOpen {
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not turn half-open")
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 3 {
		err := s.Ready(ctx)
		if i < 2 && err == nil {
			t.Fatalf("Ready after %d probe(s) of a half-open breaker = nil", i+1)
		}
		agree("half-open, probe "+string(rune('1'+i)), err)
	}
	err = s.Ready(ctx)
	if err != nil || s.Breaker.Health().State != ups.BreakerClosed {
		t.Fatalf("after 3 good probes: Ready = %v, breaker %s", err, s.Breaker.Health().State)
	}
	agree("closed again", err)
}

func gaugeValue(m *dto.Metric) float64 { return m.GetGauge().GetValue() }
