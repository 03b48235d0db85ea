package stack

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// register exposes the layers' own counters, read when Prometheus scrapes.
func (s *Stack) register(reg prometheus.Registerer) error {
	var cs []prometheus.Collector
	counter := func(name, help string, f func() float64) {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	if m := s.Memory; m != nil {
		gauge("stickybucket_memory_users", "Users the in-memory store holds.", func() float64 { return float64(m.Stats().Users) })
		gauge("stickybucket_memory_bytes", "Bytes the in-memory store counts against store.memory.max_bytes.", func() float64 { return float64(m.Stats().Bytes) })
		counter("stickybucket_memory_evicted_total", "Users the in-memory store evicted to stay under store.memory.max_bytes.", func() float64 { return float64(m.Stats().Evicted) })
		counter("stickybucket_memory_expired_total", "Expired assignments the in-memory store reclaimed.", func() float64 { return float64(m.Stats().Expired) })
	}
	if c := s.Cache; c != nil {
		counter("stickybucket_cache_hits_total", "Profile lookups served by the cache.", func() float64 { return float64(c.Stats().Hits) })
		counter("stickybucket_cache_misses_total", "Profile lookups the cache read through.", func() float64 { return float64(c.Stats().Misses) })
		counter("stickybucket_cache_store_reads_total", "Store reads made by the cache (concurrent misses for one user share one).", func() float64 { return float64(c.Stats().StoreReads) })
	}
	if a := s.Saver; a != nil {
		gauge("stickybucket_async_queue_depth", "Users with saves waiting for a worker.", func() float64 { return float64(a.Stats().QueueDepth) })
		gauge("stickybucket_async_pending", "Accepted saves not yet written.", func() float64 { return float64(a.Stats().Pending) })
		counter("stickybucket_async_accepted_total", "Saves accepted by the async saver.", func() float64 { return float64(a.Stats().Accepted) })
		counter("stickybucket_async_written_total", "Accepted saves written to the store.", func() float64 { return float64(a.Stats().Written) })
		counter("stickybucket_async_coalesced_total", "Accepted saves merged into a pending write of the same user.", func() float64 { return float64(a.Stats().Coalesced) })
		counter("stickybucket_async_retries_total", "Write attempts beyond the first.", func() float64 { return float64(a.Stats().Retried) })
		counter("stickybucket_async_failed_total", "Accepted saves given up after the store rejected them or stayed unavailable.", func() float64 { return float64(a.Stats().Failed) })
		counter("stickybucket_async_dropped_total", "Saves refused because the queue was full.", func() float64 { return float64(a.Stats().Dropped) })
		counter("stickybucket_async_written_through_total", "Saves written synchronously because the queue was full.", func() float64 { return float64(a.Stats().WrittenThrough) })
	}
	if w := s.Background; w != nil {
		gauge("stickybucket_background_writes_pending", "Background writes of decisions whose lookup ran out of time, not yet done.", func() float64 { return float64(w.Stats().Pending) })
		for _, r := range []struct {
			result string
			f      func(decision.BackgroundWriteStats) uint64
		}{
			{"written", func(s decision.BackgroundWriteStats) uint64 { return s.Written }},
			{"failed", func(s decision.BackgroundWriteStats) uint64 { return s.Failed }},
			{"skipped", func(s decision.BackgroundWriteStats) uint64 { return s.Skipped }},
		} {
			cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "stickybucket_background_writes_total",
				Help:        "Background writes of decisions whose lookup ran out of time (their new assignments, where the store holds none), by result: written, failed (refused, or unavailable for a minute), skipped (1,024 already in flight, or shutting down).",
				ConstLabels: prometheus.Labels{"result": r.result},
			}, func() float64 { return float64(r.f(w.Stats())) }))
		}
	}
	if b := s.Breaker; b != nil {
		gauge("stickybucket_breaker_open", "1 while the store's circuit breaker is open or half-open, else 0.", func() float64 {
			if b.Health().State == ups.BreakerClosed {
				return 0
			}
			return 1
		})
		counter("stickybucket_breaker_rejected_total", "Store calls refused at once by the open breaker.", func() float64 { return float64(b.Health().Rejected) })
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
