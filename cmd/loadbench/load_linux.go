package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sampleCPU reads /proc/stat's aggregate cpu line (user nice system idle
// iowait irq softirq steal …; busy is all but idle and iowait), the
// one-minute load average and the driver's own user+system time.
func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now(), cpus: runtime.NumCPU()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if raw, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 0 {
			s.loadAvg1, _ = strconv.ParseFloat(f[0], 64)
		}
	}
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	var ticks [8]uint64
	for i := range ticks {
		v, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return s
		}
		ticks[i] = v
	}
	for i, v := range ticks {
		s.total += v
		if i != 3 && i != 4 { // idle, iowait
			s.busy += v
		}
	}
	s.ok = true
	return s
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
