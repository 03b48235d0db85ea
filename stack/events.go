package stack

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickybucket/stickybucket/events"
	"github.com/stickybucket/stickybucket/internal/buildinfo"
)

// startEvents starts the event processor when events are enabled. Close
// sends what is queued after the listeners stopped taking requests and
// before the profile store closes (its step is added after the store's,
// and steps run last added first).
func (s *Service) startEvents(reg prometheus.Registerer) error {
	cfg := s.cfg.Events
	if !cfg.Enabled {
		return nil
	}
	p, err := events.New(events.Options{
		URL: cfg.URL, BatchSize: cfg.BatchSize, FlushInterval: cfg.FlushInterval.Std(), QueueSize: cfg.Queue,
		QueueBytes:    cfg.QueueBytes,
		ClientVersion: clientVersion(buildinfo.Version()), Log: s.log,
	})
	if err != nil {
		return err
	}
	s.events = p
	s.down.add(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Server.ShutdownTimeout.Std())
		defer cancel()
		err := p.Close(ctx)
		st := p.Stats()
		s.log.Info("events closed", "sent", st.Sent, "dropped", st.Dropped, "url", cfg.URL)
		if err != nil {
			return fmt.Errorf("events: %w", err)
		}
		return nil
	})
	return registerEvents(reg, p)
}

// clientVersion is the version `stickybucket version` prints, as the
// events' client_version: without its "v"; "0.0.0-dev" for a build that
// does not say.
func clientVersion(v string) string {
	if v == "" || v == "unknown" || v == "(devel)" {
		return "0.0.0-dev"
	}
	return strings.TrimPrefix(v, "v")
}

// registerEvents exposes the processor's counters, read when Prometheus
// scrapes.
func registerEvents(reg prometheus.Registerer, p *events.Processor) error {
	counter := func(name, help string, labels prometheus.Labels, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels}, f)
	}
	cs := []prometheus.Collector{
		counter("stickybucket_events_queued_total", "Impression and conversion events queued to be sent.", nil, func() float64 { return float64(p.Stats().Queued) }),
		counter("stickybucket_events_sent_total", "Events the event endpoint accepted.", nil, func() float64 { return float64(p.Stats().Sent) }),
		counter("stickybucket_events_batches_total", "Batches of events the event endpoint accepted.", nil, func() float64 { return float64(p.Stats().Batches) }),
		counter("stickybucket_events_retried_total", "Requests to the event endpoint sent again after a network error, 408, 429 or 5xx.", nil, func() float64 { return float64(p.Stats().Retried) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stickybucket_events_pending", Help: "Events queued and not yet sent or dropped."}, func() float64 { return float64(p.Stats().Pending) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "stickybucket_events_pending_bytes", Help: "Size of the JSON of the events queued and not yet sent or dropped (bounded by events.queue_bytes)."}, func() float64 { return float64(p.Stats().PendingBytes) }),
	}
	for _, reason := range events.DropReasons {
		cs = append(cs, counter("stickybucket_events_dropped_total", "Events not sent, by reason: queue_full, rejected (a 4xx), gave_up (failing for 10 minutes), shutdown (left at the shutdown deadline), closed.",
			prometheus.Labels{"reason": reason}, func() float64 { return float64(p.Dropped(reason)) }))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("events metrics: %w", err)
		}
	}
	return nil
}
