package main

import (
	"math"
	"time"
)

// cpuSample is the machine's, the driver's and optionally the target
// process's CPU time at one moment.
type cpuSample struct {
	ok          bool   // false where /proc/stat cannot be read
	busy, total uint64 // clock ticks over all CPUs since boot
	self        time.Duration
	procOK      bool // the target's process was given and could be read
	proc        time.Duration
	at          time.Time
	loadAvg1    float64
	cpus        int
}

// cpuDelta is the CPU time spent between two samples.
type cpuDelta struct {
	ok          bool
	busy, total uint64
	procOK      bool
	self, proc  time.Duration
	wall        time.Duration
	loadAvg1    float64 // at the later sample; not summed
	cpus        int
}

func (a cpuSample) to(b cpuSample) cpuDelta {
	d := cpuDelta{
		ok:       a.ok && b.ok && b.total > a.total,
		procOK:   a.procOK && b.procOK,
		wall:     b.at.Sub(a.at),
		self:     b.self - a.self,
		loadAvg1: b.loadAvg1,
		cpus:     b.cpus,
	}
	if d.ok {
		d.busy, d.total = b.busy-a.busy, b.total-a.total
	}
	if d.procOK {
		d.proc = b.proc - a.proc
	}
	return d
}

func (d *cpuDelta) add(o cpuDelta) {
	if d.wall == 0 {
		d.ok, d.procOK = o.ok, o.procOK
	} else {
		d.ok, d.procOK = d.ok && o.ok, d.procOK && o.procOK
	}
	d.busy += o.busy
	d.total += o.total
	d.self += o.self
	d.proc += o.proc
	d.wall += o.wall
	d.cpus = o.cpus
}

func (d cpuDelta) load() Load {
	var l Load
	if d.wall <= 0 {
		return l
	}
	perWall := func(t time.Duration) float64 { return round2(t.Seconds() / d.wall.Seconds()) }
	l.DriverCores = perWall(d.self)
	if d.procOK {
		l.TargetCores = perWall(d.proc)
	}
	if d.ok && d.total > 0 {
		l.MachineBusyCores = round2(float64(d.busy) / float64(d.total) * float64(d.cpus))
		if d.procOK {
			l.OtherCores = round2(math.Max(0, l.MachineBusyCores-l.DriverCores-l.TargetCores))
		}
	}
	l.LoadAvg1 = d.loadAvg1
	return l
}

// loadPer is load with the CPU time per request, for ok OK requests.
func (d cpuDelta) loadPer(ok int64) Load {
	l := d.load()
	if ok <= 0 || d.wall <= 0 {
		return l
	}
	l.DriverCPUPerRequestUS = usPer(d.self, ok)
	if d.procOK {
		l.TargetCPUPerRequestUS = usPer(d.proc, ok)
	}
	return l
}

// usPer is t divided by n, in microseconds, to 0.01 µs.
func usPer(t time.Duration, n int64) float64 {
	return round2(float64(t.Nanoseconds()) / 1e3 / float64(n))
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
