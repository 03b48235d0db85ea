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

// userHZ is the unit of CPU times in /proc: fixed at 100 for user space on
// Linux, whatever the kernel's internal tick.
const userHZ = 100

// sampleCPU reads /proc/stat's aggregate cpu line (user nice system idle
// iowait irq softirq steal …; busy is all but idle and iowait), the
// one-minute load average, the driver's own user+system time and, if pid is
// not 0, that process's.
func sampleCPU(pid int) cpuSample {
	s := cpuSample{at: time.Now(), cpus: runtime.NumCPU()}
	if pid > 0 {
		s.proc, s.procOK = processCPU(pid)
	}
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

// processCPU is the user+system time of process pid, from fields 14 and 15
// of /proc/PID/stat (counted after the command name, which may hold spaces
// and parentheses).
func processCPU(pid int) (time.Duration, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state): utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * time.Second / userHZ, true
}
