package config

import (
	"strings"
	"testing"
	"time"
)

const eventsBase = "environments:\n  development:\n    replication: {class: SimpleStrategy, replication_factor: 1}\n"

// Events are off by default, with Agent's flush interval and endpoint and
// batches of 100.
func TestEventsDefaults(t *testing.T) {
	cfg, err := Parse([]byte(eventsBase), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Events
	if e.Enabled || e.URL != "https://logx.optimizely.com/v1/events" || e.BatchSize != 100 || e.FlushInterval.Std() != 30*time.Second || e.Queue != 10000 || e.QueueBytes != 64<<20 {
		t.Errorf("events defaults: %+v", e)
	}
	cfg, err = Parse([]byte(eventsBase+"events:\n  enabled: true\n  url: http://127.0.0.1:9/v1/events\n  batch_size: 50\n  flush_interval: 5s\n  queue: 100\n  queue_bytes: 2097152\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Events; !e.Enabled || e.URL != "http://127.0.0.1:9/v1/events" || e.BatchSize != 50 || e.FlushInterval.Std() != 5*time.Second || e.Queue != 100 || e.QueueBytes != 2<<20 {
		t.Errorf("events: %+v", e)
	}
}

func TestEventsValidation(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"  url: logx.optimizely.com\n", "events.url"},
		{"  batch_size: -1\n", "events.batch_size"},
		{"  queue: 5\n  batch_size: 10\n", "events.queue: 5 is below events.batch_size"},
		{"  flush_interval: 2h\n", "events.flush_interval"},
		{"  queue_bytes: 1000\n", "events.queue_bytes: 1000 is outside 1 MiB"},
		{"  flush: 1s\n", "flush"},
	} {
		_, err := Parse([]byte(eventsBase+"events:\n"+c.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one naming %s", c.yaml, err, c.want)
		}
	}
}
