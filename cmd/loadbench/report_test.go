package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestCurveOf(t *testing.T) {
	h := newHistogram()
	for ms := int64(1); ms <= 1000; ms++ {
		if err := h.RecordValue(ms * int64(time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	pts := curveOf(h)
	if pts[0].Percentile != 0 || math.Abs(pts[0].MS-1) > 0.01 {
		t.Errorf("first point %+v, want p0 at 1 ms", pts[0])
	}
	last := pts[len(pts)-1]
	if last.Percentile != 99.9 || math.Abs(last.MS-1000) > 1 {
		t.Errorf("last point %+v, want p99.9 (1 - 1/n) at the maximum, 1000 ms", last)
	}
	for i := 1; i < len(pts); i++ {
		if pts[i].Percentile <= pts[i-1].Percentile || pts[i].MS < pts[i-1].MS {
			t.Fatalf("points %d and %d not increasing: %+v %+v", i-1, i, pts[i-1], pts[i])
		}
	}
	l := latencyOf(h)
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"p50", l.P50, 500}, {"p90", l.P90, 900}, {"p99", l.P99, 990}, {"max", l.Max, 1000}} {
		if math.Abs(c.got-c.want)/c.want > 0.002 {
			t.Errorf("%s %v ms, want %v ms", c.name, c.got, c.want)
		}
	}
	if curveOf(newHistogram()) != nil {
		t.Error("curve of an empty histogram is not empty")
	}
	one := newHistogram()
	one.RecordValue(int64(2 * time.Millisecond))
	if pts := curveOf(one); len(pts) != 1 || math.Abs(pts[0].MS-2) > 0.01 {
		t.Errorf("curve of one value: %+v, want one point at 2 ms", pts)
	}
}

func TestNinesTicks(t *testing.T) {
	var labels []string
	for _, tk := range (ninesTicks{}).Ticks(0, 4.4) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	if got, want := strings.Join(labels, " "), "0% 50% 90% 99% 99.9% 99.99%"; got != want {
		t.Errorf("labels %q, want %q", got, want)
	}
	if x := nines(99.9); math.Abs(x-3) > 1e-9 {
		t.Errorf("nines(99.9) = %v, want 3", x)
	}
}

func TestLogTicks125(t *testing.T) {
	var labels []string
	for _, tk := range (logTicks125{}).Ticks(0.0004, 3000) {
		if tk.Label != "" {
			labels = append(labels, tk.Label)
		}
	}
	want := "0.0005 0.001 0.002 0.005 0.01 0.02 0.05 0.1 0.2 0.5 1 2 5 10 20 50 100 200 500 1000 2000"
	if got := strings.Join(labels, " "); got != want {
		t.Errorf("labels %q, want %q", got, want)
	}
}

func TestRenderSVGNeedsData(t *testing.T) {
	if _, err := renderSVG(&Report{Targets: []TargetReport{{Name: "a"}}}); err == nil {
		t.Error("chart without latencies: no error")
	}
}

func TestCPUDelta(t *testing.T) {
	t0 := time.Unix(0, 0)
	a := cpuSample{ok: true, busy: 100, total: 400, self: time.Second, procOK: true, proc: 3 * time.Second, at: t0, cpus: 2}
	b := cpuSample{ok: true, busy: 250, total: 600, self: 1500 * time.Millisecond, procOK: true, proc: 4 * time.Second,
		at: t0.Add(2 * time.Second), loadAvg1: 3.5, cpus: 2}
	l := a.to(b).load()
	// 150 of 200 ticks busy on 2 CPUs: 1.5 cores; in 2 s the driver used
	// 0.5 s, the target 1 s; 0.75 cores are left for the others.
	want := Load{MachineBusyCores: 1.5, DriverCores: 0.25, TargetCores: 0.5, OtherCores: 0.75, LoadAvg1: 3.5}
	if l != want {
		t.Errorf("load %+v, want %+v", l, want)
	}
	var sum cpuDelta
	sum.add(a.to(b))
	sum.add(a.to(b))
	want.LoadAvg1 = 0
	if got := sum.load(); got != want {
		t.Errorf("sum of two equal deltas %+v, want the same rates %+v", got, want)
	}
	sum.add(cpuSample{at: t0}.to(cpuSample{at: t0.Add(time.Second)}))
	if got := sum.load(); got.MachineBusyCores != 0 || got.TargetCores != 0 || got.OtherCores != 0 {
		t.Errorf("a delta without /proc left load %+v, want machine and target unknown (0)", got)
	}
}

func TestCPUPerRequest(t *testing.T) {
	t0 := time.Unix(0, 0)
	a := cpuSample{ok: true, busy: 100, total: 400, self: time.Second, procOK: true, proc: 3 * time.Second, at: t0, cpus: 2}
	b := cpuSample{ok: true, busy: 250, total: 600, self: 1500 * time.Millisecond, procOK: true, proc: 4 * time.Second,
		at: t0.Add(2 * time.Second), cpus: 2}
	// 1 s of the target's CPU and 0.5 s of the driver's for 40,000 OK
	// requests: 25 µs and 12.5 µs each.
	l := a.to(b).loadPer(40_000)
	if l.TargetCPUPerRequestUS != 25 || l.DriverCPUPerRequestUS != 12.5 || l.TargetCores != 0.5 {
		t.Errorf("load %+v: want 25 µs and 12.5 µs per request, 0.5 target cores", l)
	}
	// Rounded to 0.01 µs: 1 s for 30,000 requests is 33.33 µs.
	if l := a.to(b).loadPer(30_000); l.TargetCPUPerRequestUS != 33.33 {
		t.Errorf("target CPU per request %v µs, want 33.33", l.TargetCPUPerRequestUS)
	}
	// No OK request, or no target process: nothing per request.
	if l := a.to(b).loadPer(0); l.TargetCPUPerRequestUS != 0 || l.DriverCPUPerRequestUS != 0 {
		t.Errorf("per request without requests: %+v", l)
	}
	noProc := b
	noProc.procOK = false
	if l := a.to(noProc).loadPer(1000); l.TargetCPUPerRequestUS != 0 || l.DriverCPUPerRequestUS != 500 {
		t.Errorf("without the target's process: %+v, want the driver's 500 µs only", l)
	}
	// Summed over rounds, the CPU time and the requests add up.
	var sum cpuDelta
	sum.add(a.to(b))
	sum.add(a.to(b))
	if l := sum.loadPer(80_000); l.TargetCPUPerRequestUS != 25 {
		t.Errorf("two rounds: %v µs per request, want 25", l.TargetCPUPerRequestUS)
	}
}

func TestCompareCPUAndHeld(t *testing.T) {
	r := &Report{Targets: []TargetReport{
		{Name: "agent", RequestsPerSecond: 1000, Latency: Latency{P50: 1, P99: 4},
			Load: Load{TargetCPUPerRequestUS: 90}, OpenLoop: &OpenLoop{Held: true}},
		{Name: "ours", RequestsPerSecond: 1000, Latency: Latency{P50: 0.5, P99: 1},
			Load: Load{TargetCPUPerRequestUS: 30}, OpenLoop: &OpenLoop{Held: true}},
		{Name: "slow", RequestsPerSecond: 900, Latency: Latency{P50: 2, P99: 8}, OpenLoop: &OpenLoop{Held: false}},
	}}
	if err := r.compare("agent"); err != nil {
		t.Fatal(err)
	}
	ours, slow := r.Comparison.Targets[0], r.Comparison.Targets[1]
	if ours.P99Ratio != 0.25 || ours.CPUPerRequestRatio != 0.333 || ours.BothHeld == nil || !*ours.BothHeld {
		t.Errorf("ours %+v: want p99 ×0.25, CPU ×0.333, both held", ours)
	}
	if slow.CPUPerRequestRatio != 0 || slow.BothHeld == nil || *slow.BothHeld {
		t.Errorf("slow %+v: want no CPU ratio (not measured) and not both held", slow)
	}
}

func TestOpenLoopReport(t *testing.T) {
	h := newHistogram()
	h.RecordValue(int64(time.Millisecond))
	if openLoopReport(openTally{}, 0, h) != nil {
		t.Error("a closed-loop tally gave an open-loop report")
	}
	for _, tt := range []struct {
		o      openTally
		errors int64
		late   float64
		held   bool
	}{
		{openTally{scheduled: 1000, sent: 1000, late: 10}, 0, 1, true},
		{openTally{scheduled: 1000, sent: 1000, late: 300}, 0, 30, true}, // late, but kept up
		{openTally{scheduled: 1000, sent: 999, unsent: 1}, 0, 0, true},   // 0.1 %: a stall at the end
		{openTally{scheduled: 1000, sent: 998, unsent: 2}, 0, 0, false},
		{openTally{scheduled: 1000, sent: 1000}, 1, 0, false},
		{openTally{scheduled: 1000, sent: 990}, 0, 0, false}, // interrupted
	} {
		r := openLoopReport(tt.o, tt.errors, h)
		if r.LatePercent != tt.late || r.Held != tt.held || r.Scheduled != tt.o.scheduled || r.SendDelay.Max != 1 {
			t.Errorf("%+v with %d errors: %+v; want late %v %%, held %v", tt.o, tt.errors, r, tt.late, tt.held)
		}
	}
}
