package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Report is everything one run measured; it is what --out writes.
type Report struct {
	StartedAt   time.Time `json:"started_at"`
	FinishedAt  time.Time `json:"finished_at"`
	Interrupted bool      `json:"interrupted,omitempty"`
	Setup       Setup     `json:"setup"`
	Machine     Machine   `json:"machine"`
	// Targets in the order they were given; each was measured in turn in
	// every round.
	Targets []TargetReport `json:"targets"`
	// Comparison is set when a baseline target was named.
	Comparison *Comparison `json:"comparison,omitempty"`
}

// Setup is the run's configuration, as measured.
type Setup struct {
	// Route is every target's request line when they share one, else "per
	// target"; Routes has each target's.
	Route       string            `json:"route"`
	Routes      map[string]string `json:"routes"`
	Flag        string            `json:"flag,omitempty"`
	SDKKey      string            `json:"sdk_key,omitempty"`
	SaveProfile json.RawMessage   `json:"save_profile,omitempty"`
	// Mode is "closed loop" (each client sends when it has its answer) or
	// "open loop" (RatePerSecond requests per second per target, latency
	// from each request's intended send time).
	Mode          string           `json:"mode"`
	RatePerSecond float64          `json:"rate_per_second,omitempty"`
	Clients       int              `json:"clients"`
	Users         int              `json:"users"`
	Attributes    map[string][]any `json:"attributes,omitempty"`
	Seed          uint64           `json:"seed"`
	Rounds        int              `json:"rounds"`
	Duration      string           `json:"round_duration"`
	Warmup        string           `json:"warmup_per_round"`
	MaxRequests   int64            `json:"max_requests_per_round"`
	Timeout       string           `json:"request_timeout"`
	Order         []string         `json:"order"`
	PIDs          map[string]int   `json:"pids,omitempty"`
}

// Machine says where the driver ran. The targets ran beside it, on the same
// cores.
type Machine struct {
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
}

// TargetReport aggregates one target's measured rounds.
type TargetReport struct {
	Name  string `json:"name"`
	URL   string `json:"url"`
	Route string `json:"route"`
	// Requests counts every measured request that got a response or failed;
	// OK those that were a 2xx answer the route's check accepts. Latencies
	// are of OK requests only, to the last byte of the response: from
	// sending the request on the closed loop, from its intended send time on
	// the open loop.
	Requests          int64   `json:"requests"`
	OK                int64   `json:"ok"`
	ElapsedSeconds    float64 `json:"elapsed_seconds"`
	RequestsPerSecond float64 `json:"requests_per_second"`
	Latency           Latency `json:"latency_ms"`
	// Errors, counted separately: a non-2xx status, no complete response
	// (refused, reset, timed out), a 2xx that does not parse or is not the
	// route's answer (a decision for another flag, another user's profile,
	// a save without its counts).
	Non2xx          int64            `json:"non_2xx"`
	TransportErrors int64            `json:"transport_errors"`
	BadResponses    int64            `json:"bad_responses"`
	StatusCodes     map[string]int64 `json:"non_2xx_status_codes,omitempty"`
	ErrorSamples    []string         `json:"error_samples,omitempty"`
	// Canceled requests were cut off by the end of the run (interrupt or
	// backstop), not failed by the server; they count nowhere else.
	Canceled int64 `json:"canceled,omitempty"`
	// WarmupRequests and WarmupErrors count the unmeasured warm-up phases.
	WarmupRequests int64 `json:"warmup_requests"`
	WarmupErrors   int64 `json:"warmup_errors"`
	// Connections is how many TCP connections the driver opened during
	// measured rounds: about Clients per round when keep-alive works.
	Connections int64 `json:"connections_opened"`
	// Variations counts the answers by kind: on the decide route the
	// variation keys decided ("" for none; the same users on every target,
	// so a target deciding differently shows here), on the lookup routes
	// the profile sizes ("entries:1"), on ups-save the counts answered
	// ("written:0 unchanged:1 lost:0").
	Variations map[string]int64 `json:"variations"`
	Load       Load             `json:"load"`
	// OpenLoop is set on the open loop.
	OpenLoop *OpenLoop `json:"open_loop,omitempty"`
	// Curve is latency against percentile, for charts.
	Curve  []CurvePoint  `json:"latency_by_percentile"`
	Rounds []RoundReport `json:"rounds"`
}

// Latency holds percentiles of one latency distribution, in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// CurvePoint is the latency at one percentile.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	MS         float64 `json:"ms"`
}

// RoundReport is one measured round of one target.
type RoundReport struct {
	Round             int       `json:"round"`
	Requests          int64     `json:"requests"`
	OK                int64     `json:"ok"`
	Errors            int64     `json:"errors"`
	ElapsedSeconds    float64   `json:"elapsed_seconds"`
	RequestsPerSecond float64   `json:"requests_per_second"`
	P50MS             float64   `json:"p50_ms"`
	P99MS             float64   `json:"p99_ms"`
	MaxMS             float64   `json:"max_ms"`
	Connections       int64     `json:"connections_opened"`
	Load              Load      `json:"load"`
	OpenLoop          *OpenLoop `json:"open_loop,omitempty"`
}

// OpenLoop is what the open loop adds to a target's figures.
type OpenLoop struct {
	// Scheduled counts the requests whose intended send times fell in the
	// measured rounds (rate × duration each, at most --max-requests);
	// Sent those that were sent. Late ones were sent after their intended
	// time because no client was free then (their wait is in their
	// latency); Unsent ones were still waiting for a client when the round
	// ended: the target fell behind the rate.
	Scheduled int64 `json:"scheduled"`
	Sent      int64 `json:"sent"`
	Late      int64 `json:"late"`
	Unsent    int64 `json:"unsent"`
	// LatePercent is Late in percent of Sent.
	LatePercent float64 `json:"late_percent"`
	// SendDelay is how long after its intended time each request was sent:
	// the wait for a free client, and the driver's own lateness in waking
	// up (a few tens of µs on Linux); it is part of every latency.
	SendDelay Latency `json:"send_delay_ms"`
	// Held: the target kept up with the rate. Every request sent was
	// answered OK, and all but at most 0.1 % of those due were sent within
	// their round: a target short of the rate by 1 % leaves 1 % unsent,
	// while a stall in the last milliseconds of a round leaves a few.
	// Late requests are allowed: their wait is in their latencies.
	Held bool `json:"held"`
}

// heldUnsent is the share of unsent requests a held rate allows.
const heldUnsent = 0.001

// openLoopReport sums up an open-loop tally, or is nil on the closed loop.
func openLoopReport(o openTally, errors int64, delay *hdrhistogram.Histogram) *OpenLoop {
	if o.scheduled == 0 {
		return nil
	}
	r := &OpenLoop{Scheduled: o.scheduled, Sent: o.sent, Late: o.late, Unsent: o.unsent, SendDelay: latencyOf(delay)}
	if o.sent > 0 {
		r.LatePercent = round3(100 * float64(o.late) / float64(o.sent))
	}
	r.Held = errors == 0 && float64(o.scheduled-o.sent) <= heldUnsent*float64(o.scheduled)
	return r
}

// Load is how busy the machine was while a target was measured, from
// /proc (Linux only; zero elsewhere), in cores: CPU seconds per second.
type Load struct {
	// MachineBusyCores counts every process (0 to Machine.CPUs);
	// DriverCores the driver, TargetCores the target's server process
	// (when its pid was given) and OtherCores what is left: everything
	// else running on the machine.
	MachineBusyCores float64 `json:"machine_busy_cores"`
	DriverCores      float64 `json:"driver_cores"`
	TargetCores      float64 `json:"target_cores,omitempty"`
	OtherCores       float64 `json:"other_cores,omitempty"`
	// LoadAvg1 is the one-minute load average at the end of the round
	// (rounds only).
	LoadAvg1 float64 `json:"loadavg_1m,omitempty"`
	// TargetCPUPerRequestUS is the target's CPU time (user + system) per
	// OK request, in microseconds (when its pid was given);
	// DriverCPUPerRequestUS the driver's.
	TargetCPUPerRequestUS float64 `json:"target_cpu_us_per_request,omitempty"`
	DriverCPUPerRequestUS float64 `json:"driver_cpu_us_per_request,omitempty"`
}

func setupOf(cfg Config) Setup {
	s := Setup{
		Routes:        map[string]string{},
		Flag:          cfg.Flag,
		SDKKey:        cfg.SDKKey,
		Mode:          "closed loop",
		RatePerSecond: cfg.Rate,
		Clients:       cfg.Clients,
		Users:         cfg.Users,
		Attributes:    cfg.Attributes,
		Seed:          cfg.Seed,
		Rounds:        cfg.Rounds,
		Duration:      cfg.Duration.String(),
		Warmup:        cfg.Warmup.String(),
		MaxRequests:   cfg.MaxRequests,
		Timeout:       cfg.Timeout.String(),
		PIDs:          cfg.PIDs,
	}
	if cfg.Rate > 0 {
		s.Mode = "open loop"
	}
	for _, t := range cfg.Targets {
		s.Order = append(s.Order, t.Name)
		line := t.Route.orDefault().describe(cfg.Flag)
		s.Routes[t.Name] = line
		if t.Route.orDefault() == RouteUPSSave {
			s.SaveProfile = cfg.SaveProfile
			if len(s.SaveProfile) == 0 {
				s.SaveProfile = json.RawMessage(DefaultSaveProfile)
			}
		}
		switch s.Route {
		case "":
			s.Route = line
		case line:
		default:
			s.Route = "per target"
		}
	}
	return s
}

func machineInfo() Machine {
	return Machine{
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		CPUs:       runtime.NumCPU(),
		CPUModel:   cpuModel(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
	}
}

func (ts *targetState) report() TargetReport {
	r := TargetReport{
		Name:              ts.Name,
		URL:               ts.url,
		Route:             string(ts.Route),
		Requests:          ts.tally.requests(),
		OK:                ts.tally.ok,
		ElapsedSeconds:    round3(ts.elapsed.Seconds()),
		RequestsPerSecond: perSecond(ts.tally.ok, ts.elapsed),
		Latency:           latencyOf(ts.total),
		Non2xx:            ts.tally.non2xx,
		TransportErrors:   ts.tally.transport,
		BadResponses:      ts.tally.bad,
		ErrorSamples:      ts.tally.samples,
		Canceled:          ts.tally.canceled,
		WarmupRequests:    ts.warmup.requests(),
		WarmupErrors:      ts.warmup.errors(),
		Variations:        ts.tally.variations,
		Load:              ts.cpu.loadPer(ts.tally.ok),
		OpenLoop:          openLoopReport(ts.tally.open, ts.tally.errors(), ts.delay),
		Curve:             curveOf(ts.total),
		Rounds:            ts.rounds,
	}
	if r.Variations == nil {
		r.Variations = map[string]int64{}
	}
	for code, n := range ts.tally.status {
		if r.StatusCodes == nil {
			r.StatusCodes = map[string]int64{}
		}
		r.StatusCodes[strconv.Itoa(code)] = n
	}
	for _, rr := range ts.rounds {
		r.Connections += rr.Connections
	}
	return r
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		Min:  ms(h.Min()),
		Mean: round3(h.Mean() / 1e6),
		P50:  ms(h.ValueAtPercentile(50)),
		P90:  ms(h.ValueAtPercentile(90)),
		P99:  ms(h.ValueAtPercentile(99)),
		P999: ms(h.ValueAtPercentile(99.9)),
		Max:  ms(maxOf(h)),
	}
}

// Curve resolution: points every curveStep "nines" (0 = p0, 1 = p90,
// 2 = p99, …), up to the last percentile the sample size supports, 1 - 1/n,
// whose value is the maximum.
const curveStep = 0.05

// nines maps a percentile to the chart's x axis: -log10(1 - p/100).
func nines(percentile float64) float64 { return -math.Log10(1 - percentile/100) }

func curveOf(h *hdrhistogram.Histogram) []CurvePoint {
	n := h.TotalCount()
	if n == 0 {
		return nil
	}
	if n == 1 {
		return []CurvePoint{{Percentile: 0, MS: ms(maxOf(h))}}
	}
	last := math.Log10(float64(n))
	var pts []CurvePoint
	for i := 0; float64(i)*curveStep < last; i++ {
		p := 100 * (1 - math.Pow(10, -float64(i)*curveStep))
		pts = append(pts, CurvePoint{Percentile: round6(p), MS: ms(h.ValueAtPercentile(p))})
	}
	return append(pts, CurvePoint{Percentile: round6(100 * (1 - 1/float64(n))), MS: ms(maxOf(h))})
}

// maxOf is the largest recorded value (to the histogram's precision).
func maxOf(h *hdrhistogram.Histogram) int64 {
	if h.TotalCount() == 0 {
		return 0
	}
	return h.Max()
}

func ms(ns int64) float64 { return round3(float64(ns) / 1e6) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*10) / 10
}

func round3(x float64) float64 { return math.Round(x*1e3) / 1e3 }
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// targetReport finds a target by name.
func (r *Report) targetReport(name string) (*TargetReport, bool) {
	i := slices.IndexFunc(r.Targets, func(t TargetReport) bool { return t.Name == name })
	if i < 0 {
		return nil, false
	}
	return &r.Targets[i], true
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a reader never sees half a file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeJSON writes the report, indented, to path.
func writeJSON(path string, r *Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return writeFileAtomic(path, append(data, '\n'))
}

// Comparison sets every other target against a baseline.
type Comparison struct {
	Baseline string          `json:"baseline"`
	Targets  []ComparisonRow `json:"targets"`
}

// ComparisonRow is one target's figures divided by the baseline's: a
// requests/s ratio above 1 and latency and CPU ratios below 1 are better.
// CPUPerRequestRatio is 0 unless both targets' CPU was measured. On the
// open loop, BothHeld says whether both held the rate.
type ComparisonRow struct {
	Name                   string  `json:"name"`
	RequestsPerSecondRatio float64 `json:"requests_per_second_ratio"`
	P50Ratio               float64 `json:"p50_ratio"`
	P99Ratio               float64 `json:"p99_ratio"`
	CPUPerRequestRatio     float64 `json:"cpu_per_request_ratio,omitempty"`
	BothHeld               *bool   `json:"both_held,omitempty"`
}

// compare fills r.Comparison against the target named baseline.
func (r *Report) compare(baseline string) error {
	b, ok := r.targetReport(baseline)
	if !ok {
		return fmt.Errorf("baseline %q is not a target", baseline)
	}
	c := &Comparison{Baseline: baseline}
	for _, t := range r.Targets {
		if t.Name == baseline {
			continue
		}
		row := ComparisonRow{
			Name:                   t.Name,
			RequestsPerSecondRatio: ratio(t.RequestsPerSecond, b.RequestsPerSecond),
			P50Ratio:               ratio(t.Latency.P50, b.Latency.P50),
			P99Ratio:               ratio(t.Latency.P99, b.Latency.P99),
			CPUPerRequestRatio:     ratio(t.Load.TargetCPUPerRequestUS, b.Load.TargetCPUPerRequestUS),
		}
		if t.OpenLoop != nil && b.OpenLoop != nil {
			held := t.OpenLoop.Held && b.OpenLoop.Held
			row.BothHeld = &held
		}
		c.Targets = append(c.Targets, row)
	}
	r.Comparison = c
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round3(a / b)
}
