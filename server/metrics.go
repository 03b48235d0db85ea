package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/sdkprofiles"
	"github.com/stickybucket/stickybucket/ups"
)

// Metrics are the service's Prometheus metrics. The zero value is not
// usable: use NewMetrics. Components with counters of their own (the
// cache, the async saver) register collectors on the same registry.
type Metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	decisions      *prometheus.CounterVec
	withoutProfile *prometheus.CounterVec
	storeCalls     *prometheus.CounterVec
	storeErrors    *prometheus.CounterVec
	storeDuration  *prometheus.HistogramVec
	revision       *prometheus.GaugeVec
	loads          *prometheus.CounterVec
	sdkEntries     *prometheus.CounterVec
	// byProfile counts decisions by decision.ProfileUse, bound once.
	byProfile [3]prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	latency := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickybucket_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stickybucket_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: latency,
		}, []string{"route"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickybucket_decisions_total", Help: "Decisions made, by kind (flag or experiment).",
		}, []string{"kind"}),
		withoutProfile: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickybucket_decisions_without_profile_total",
			Help: "Decisions made without the user's profile or whose assignments were not saved, by reason: store_error, over_budget, circuit_open.",
		}, []string{"reason"}),
		storeCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickybucket_store_calls_total", Help: "Profile store calls by operation.",
		}, []string{"op"}),
		storeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickybucket_store_errors_total", Help: "Failed profile store calls by operation and kind (unavailable, invalid, other).",
		}, []string{"op", "kind"}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stickybucket_store_call_duration_seconds", Help: "Profile store call latency by operation.", Buckets: latency,
		}, []string{"op"}),
		revision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stickybucket_datafile_revision", Help: "The datafile revision in force (value 1), by SDK key.",
		}, []string{"sdk_key", "revision"}),
		sdkEntries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickybucket_sdk_save_entries_total",
			Help: "Entries of profiles saved through /v1/ups/save, by result: written (new, changed or refreshed), unchanged (no write), lost (another writer was first).",
		}, []string{"result"}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stickybucket_datafile_loads_total", Help: "Datafile loads and reloads by SDK key and result (ok, failed).",
		}, []string{"sdk_key", "result"}),
	}
	byProfile := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "stickybucket_decisions_by_profile_total",
		Help: "Decisions by whether they read the user's profile: read (sticky), unread (needed it and went without: store failed, past the budget, breaker open, or a user ID no profile can key), unused (only rollouts, or profiles ignored). The share of sticky decisions is read / (read + unread).",
	}, []string{"profile"})
	for _, u := range []decision.ProfileUse{decision.ProfileUnused, decision.ProfileRead, decision.ProfileUnread} {
		m.byProfile[u] = byProfile.WithLabelValues(u.String())
	}
	for _, c := range []prometheus.Collector{byProfile, m.requests, m.duration, m.decisions, m.withoutProfile, m.storeCalls, m.storeErrors, m.storeDuration, m.revision, m.loads, m.sdkEntries} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// ObserveStore records one store call; it fits ups.Observed's hook.
func (m *Metrics) ObserveStore(op string, d time.Duration, err error) {
	if m == nil {
		return
	}
	m.storeCalls.WithLabelValues(op).Inc()
	m.storeDuration.WithLabelValues(op).Observe(d.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(op, ups.ErrorKind(err)).Inc()
	}
}

// DatafileLoaded records a datafile load for sdkKey: its revision on
// success, a failure otherwise (the previous revision stays in force).
func (m *Metrics) DatafileLoaded(sdkKey, revision string, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.loads.WithLabelValues(sdkKey, "failed").Inc()
		return
	}
	m.loads.WithLabelValues(sdkKey, "ok").Inc()
	m.revision.DeletePartialMatch(prometheus.Labels{"sdk_key": sdkKey})
	m.revision.WithLabelValues(sdkKey, revision).Set(1)
}

// decided counts n decisions of kind and, when err says the store failed,
// why they were made without it.
func (m *Metrics) decided(kind string, n int, err error) {
	if m == nil {
		return
	}
	m.decisions.WithLabelValues(kind).Add(float64(n))
	if err == nil {
		return
	}
	m.withoutProfile.WithLabelValues(withoutProfileReason(err)).Add(float64(n))
}

// withoutProfileReason says why decisions were made without the profile
// when the store failed with err: store_error, over_budget or
// circuit_open.
func withoutProfileReason(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "over_budget"
	case errors.Is(err, ups.ErrCircuitOpen):
		return "circuit_open"
	}
	return "store_error"
}

// profiled counts one decision by its use of the profile.
func (m *Metrics) profiled(u decision.ProfileUse) {
	if m == nil || int(u) >= len(m.byProfile) {
		return
	}
	m.byProfile[u].Inc()
}

// sdkSaved counts the entries of one /v1/ups/save.
func (m *Metrics) sdkSaved(r sdkprofiles.SaveResult) {
	if m == nil {
		return
	}
	m.sdkEntries.WithLabelValues("written").Add(float64(r.Written))
	m.sdkEntries.WithLabelValues("unchanged").Add(float64(r.Unchanged))
	m.sdkEntries.WithLabelValues("lost").Add(float64(r.Lost))
}

// instrument counts and times the requests of one route.
func (m *Metrics) instrument(route string, next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	observe := m.duration.WithLabelValues(route)
	codes := map[int]prometheus.Counter{}
	for _, c := range []int{200, 204, 400, 401, 403, 404, 405, 413, 415, 500, 503} {
		codes[c] = m.requests.WithLabelValues(route, strconv.Itoa(c))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		observe.Observe(time.Since(start).Seconds())
		if c, ok := codes[sw.status]; ok {
			c.Inc()
		} else {
			m.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		}
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
