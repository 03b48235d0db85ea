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
