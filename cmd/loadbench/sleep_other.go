//go:build !linux

package main

import "time"

// sleepFor sleeps d with Go's timers (about a millisecond of resolution on
// an idle process: open-loop latencies are that much less precise).
func sleepFor(d time.Duration) { time.Sleep(d) }
