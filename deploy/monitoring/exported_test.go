package monitoring

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/server"
	"github.com/stickybucket/stickybucket/stack"
	"github.com/stickybucket/stickybucket/ups"
)

// metric is one metric the service exports.
type metric struct {
	labels map[string]bool
	// histogram: its series are name_bucket (with le), name_sum and
	// name_count.
	histogram bool
}

// exported returns every metric serve exports by name, built as serve
// builds its registry: Go and process collectors, server.NewMetrics, and
// the stack of a Cassandra-kind configuration (so the cache, async saver
// and breaker register theirs) over a memory store, plus the metrics of
// the in-memory store itself.
func exported(t *testing.T) map[string]metric {
	t.Helper()
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	rec := &recorder{Registerer: reg}
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := rec.Register(c); err != nil {
			t.Fatalf("registering %T: %v", c, err)
		}
	}
	m, err := server.NewMetrics(rec)
	if err != nil {
		t.Fatalf("server.NewMetrics: %v", err)
	}
	cfg, err := config.Parse([]byte(`
environments:
  development:
    replication: {class: SimpleStrategy, replication_factor: 1}
store: {kind: cassandra}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	mem, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatalf("memory store: %v", err)
	}
	st, err := stack.Open(ctx, cfg, stack.Options{Store: mem, Registry: rec, ObserveStore: m.ObserveStore})
	if err != nil {
		t.Fatalf("stack.Open: %v", err)
	}
	t.Cleanup(func() { _ = st.Close(ctx) })
	if st.Cache == nil || st.Saver == nil || st.Breaker == nil {
		t.Fatalf("the stack has cache %v, saver %v, breaker %v: want every layer, so every metric is registered", st.Cache != nil, st.Saver != nil, st.Breaker != nil)
	}
	// And the in-memory store's own metrics, from a memory-kind stack on
	// the same registry (it has none of the layers above).
	memCfg, err := config.Parse([]byte(`
environments:
  development:
    replication: {class: SimpleStrategy, replication_factor: 1}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	memStack, err := stack.Open(ctx, memCfg, stack.Options{Registry: rec})
	if err != nil {
		t.Fatalf("stack.Open (memory): %v", err)
	}
	t.Cleanup(func() { _ = memStack.Close(ctx) })
	if memStack.Memory == nil {
		t.Fatal("the memory-kind stack has no memory store")
	}

	out := map[string]metric{}
	// Every registered metric, from its description: a vector with no
	// series yet (no error counted, say) is described but not gathered.
	descs := make(chan *prometheus.Desc)
	go func() {
		reg.Describe(descs)
		close(descs)
	}()
	for d := range descs {
		name, labels, err := parseDesc(d)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = metric{labels: labels}
	}
	// Histograms: the vectors registered, and what the collectors gather.
	for _, c := range rec.collectors {
		if _, ok := c.(*prometheus.HistogramVec); !ok {
			continue
		}
		for d := range describe(c) {
			name, labels, err := parseDesc(d)
			if err != nil {
				t.Fatal(err)
			}
			out[name] = metric{labels: labels, histogram: true}
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		e := out[mf.GetName()]
		if e.labels == nil {
			e.labels = map[string]bool{}
		}
		for _, s := range mf.GetMetric() {
			for _, l := range s.GetLabel() {
				e.labels[l.GetName()] = true
			}
		}
		e.histogram = e.histogram || mf.GetType() == dto.MetricType_HISTOGRAM
		out[mf.GetName()] = e
	}
	return out
}

// recorder is a Registerer that remembers what was registered on it.
type recorder struct {
	prometheus.Registerer
	collectors []prometheus.Collector
}

func (r *recorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return r.Registerer.Register(c)
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err) // as prometheus.Registerer documents MustRegister
		}
	}
}

// describe returns c's descriptions.
func describe(c prometheus.Collector) chan *prometheus.Desc {
	ch := make(chan *prometheus.Desc)
	go func() {
		c.Describe(ch)
		close(ch)
	}()
	return ch
}

// descPattern reads a Desc's String(): client_golang has no accessor for
// the name and variable labels.
var descPattern = regexp.MustCompile(`^Desc\{fqName: ("(?:[^"\\]|\\.)*"), .*variableLabels: \{([^{}]*)\}\}$`)

func parseDesc(d *prometheus.Desc) (string, map[string]bool, error) {
	if err := d.Err(); err != nil {
		return "", nil, err
	}
	m := descPattern.FindStringSubmatch(d.String())
	if m == nil {
		return "", nil, &descError{d.String()}
	}
	name, err := strconv.Unquote(m[1])
	if err != nil {
		return "", nil, &descError{d.String()}
	}
	labels := map[string]bool{}
	for l := range strings.SplitSeq(m[2], ",") {
		if l = strings.TrimSuffix(strings.TrimPrefix(l, "c("), ")"); l != "" {
			labels[l] = true
		}
	}
	return name, labels, nil
}

type descError struct{ desc string }

func (e *descError) Error() string { return "cannot read the metric description " + e.desc }

// TestExportedMetrics: the registry holds what the README's "Metrics"
// lists, so the other tests check against the real set.
func TestExportedMetrics(t *testing.T) {
	got := exported(t)
	for name, labels := range map[string][]string{
		"stickybucket_http_requests_total":             {"route", "code"},
		"stickybucket_http_request_duration_seconds":   {"route"},
		"stickybucket_decisions_by_profile_total":      {"profile"},
		"stickybucket_decisions_without_profile_total": {"reason"},
		"stickybucket_store_errors_total":              {"op", "kind"},
		"stickybucket_async_dropped_total":             nil,
		"stickybucket_async_queue_depth":               nil,
		"stickybucket_breaker_open":                    nil,
		"stickybucket_cache_hits_total":                nil,
		"stickybucket_memory_bytes":                    nil,
		"stickybucket_datafile_loads_total":            {"sdk_key", "result"},
		"process_resident_memory_bytes":                nil,
		"go_goroutines":                                nil,
	} {
		m, ok := got[name]
		if !ok {
			t.Errorf("%s is not exported", name)
			continue
		}
		for _, l := range labels {
			if !m.labels[l] {
				t.Errorf("%s has no label %s (has %v)", name, l, m.labels)
			}
		}
	}
	for _, h := range []string{"stickybucket_http_request_duration_seconds", "stickybucket_store_call_duration_seconds"} {
		if !got[h].histogram {
			t.Errorf("%s is not known as a histogram", h)
		}
	}
}
