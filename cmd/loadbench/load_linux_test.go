package main

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestSampleCPUReadsProc(t *testing.T) {
	a := sampleCPU(os.Getpid())
	// Burn some CPU in this process, bounded by count.
	x := 0
	for i := range 300_000_000 {
		x += i % 7
	}
	b := sampleCPU(os.Getpid())
	if !a.ok || !b.ok || !a.procOK || !b.procOK {
		t.Fatalf("samples %+v %+v: want /proc/stat and /proc/self/stat read", a, b)
	}
	d := a.to(b)
	if d.proc <= 0 || d.self <= 0 || d.busy == 0 {
		t.Errorf("delta %+v (x=%d): want CPU time seen for the process, the driver and the machine", d, x)
	}
	// The target is this process, so its CPU time is the driver's own, to
	// the 10 ms tick of /proc.
	if diff := d.proc - d.self; diff > 30*time.Millisecond || diff < -30*time.Millisecond {
		t.Errorf("process CPU %v, getrusage %v: want them within 30 ms", d.proc, d.self)
	}
	if _, ok := processCPU(-1); ok {
		t.Error("processCPU(-1) read something")
	}
}

func TestRunReportsTargetCPU(t *testing.T) {
	// The test servers run in this process, so it is the target's process.
	a := startServer(t, &decideServer{})
	a.Name = "a"
	b := startServer(t, &decideServer{})
	b.Name = "b"
	cfg := testConfig(a, b)
	cfg.Rounds = 1
	// Long enough for /proc's 10 ms ticks to see the work.
	cfg.Duration = 300 * time.Millisecond
	cfg.MaxRequests = 1 << 40
	cfg.PIDs = map[string]int{"a": os.Getpid()}
	rep, err := Run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := rep.Targets[0].Load; l.TargetCores <= 0 || l.MachineBusyCores <= 0 || l.DriverCores <= 0 ||
		l.TargetCPUPerRequestUS <= 0 || l.DriverCPUPerRequestUS <= 0 {
		t.Errorf("a's load %+v: want machine, driver and target CPU, and CPU per request", l)
	}
	if l := rep.Targets[1].Load; l.TargetCores != 0 || l.OtherCores != 0 || l.MachineBusyCores <= 0 {
		t.Errorf("b's load %+v: no pid given, want machine CPU but no target or other", l)
	}
}
