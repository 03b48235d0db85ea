package main

import (
	"math"
	"time"
)

// cpuSample is the machine's and the driver's CPU time at one moment.
type cpuSample struct {
	ok          bool   // false where /proc/stat cannot be read
	busy, total uint64 // clock ticks over all CPUs since boot
	self        time.Duration
	at          time.Time
	loadAvg1    float64
	cpus        int
}

// cpuDelta is the CPU time spent between two samples.
type cpuDelta struct {
	ok          bool
	busy, total uint64
	self, wall  time.Duration
	loadAvg1    float64 // at the later sample; not summed
	cpus        int
}

func (a cpuSample) to(b cpuSample) cpuDelta {
	d := cpuDelta{ok: a.ok && b.ok && b.total > a.total, wall: b.at.Sub(a.at), self: b.self - a.self, loadAvg1: b.loadAvg1, cpus: b.cpus}
	if d.ok {
		d.busy, d.total = b.busy-a.busy, b.total-a.total
	}
	return d
}

func (d *cpuDelta) add(o cpuDelta) {
	if d.wall == 0 {
		d.ok = o.ok
	} else {
		d.ok = d.ok && o.ok
	}
	d.busy += o.busy
	d.total += o.total
	d.self += o.self
	d.wall += o.wall
	d.cpus = o.cpus
}

func (d cpuDelta) load() Load {
	var l Load
	if d.wall > 0 {
		l.DriverCores = math.Round(d.self.Seconds()/d.wall.Seconds()*100) / 100
	}
	if d.ok && d.total > 0 {
		l.MachineBusyCores = math.Round(float64(d.busy)/float64(d.total)*float64(d.cpus)*100) / 100
	}
	l.LoadAvg1 = d.loadAvg1
	return l
}
