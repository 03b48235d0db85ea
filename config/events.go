package config

import (
	"net/url"
	"time"

	"github.com/stickybucket/stickybucket/events"
)

// Events configures the impression and conversion events `serve` sends in
// Optimizely's event format (package events).
type Events struct {
	// Enabled turns them on. Off by default: once on, the service sends
	// user IDs and the attributes the datafile declares to URL.
	Enabled bool `yaml:"enabled"`
	// URL is the event endpoint; default Optimizely's,
	// https://logx.optimizely.com/v1/events.
	URL string `yaml:"url"`
	// BatchSize events of one project and revision go in one request;
	// default 100 (Agent's is 10; events.DefaultBatchSize says why).
	BatchSize int `yaml:"batch_size"`
	// FlushInterval: batches not yet full are sent this often; default
	// 30s (Agent's).
	FlushInterval Duration `yaml:"flush_interval"`
	// Queue bounds the events not yet sent; beyond it events are dropped
	// and counted. Default 10000.
	Queue int `yaml:"queue"`
	// QueueBytes bounds the same events by the size of their JSON (events
	// with large attributes reach it before Queue); default 64 MiB.
	QueueBytes int64 `yaml:"queue_bytes"`
}

// defaults fills the keys left out.
func (e *Events) defaults() {
	if e.URL == "" {
		e.URL = events.DefaultURL
	}
	if e.BatchSize == 0 {
		e.BatchSize = events.DefaultBatchSize
	}
	if e.FlushInterval == 0 {
		e.FlushInterval = Duration(events.DefaultFlushInterval)
	}
	if e.Queue == 0 {
		e.Queue = events.DefaultQueueSize
	}
	if e.QueueBytes == 0 {
		e.QueueBytes = events.DefaultQueueBytes
	}
}

func (e Events) validate(p *problems) {
	if u, err := url.Parse(e.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("events.url", "%q is not an http(s) URL", e.URL)
	}
	if e.BatchSize < 1 || e.BatchSize > 10_000 {
		p.add("events.batch_size", "%d is outside 1…10000", e.BatchSize)
	}
	if e.Queue < 1 || e.Queue > 10_000_000 {
		p.add("events.queue", "%d is outside 1…10000000", e.Queue)
	} else if e.Queue < e.BatchSize {
		p.add("events.queue", "%d is below events.batch_size (%d): no batch could fill", e.Queue, e.BatchSize)
	}
	if e.QueueBytes < 1<<20 || e.QueueBytes > 64<<30 {
		p.add("events.queue_bytes", "%d is outside 1 MiB…64 GiB (1048576…68719476736)", e.QueueBytes)
	}
	p.inRange("events.flush_interval", e.FlushInterval, 10*time.Millisecond, time.Hour)
}
