package main

import (
	"errors"
	"syscall"
	"time"
)

// sleepFor sleeps d with nanosleep(2), which the kernel ends within its
// timer slack (50 µs by default). Go's own timers wake at best on the next
// millisecond when the process is otherwise idle (the runtime's poller
// waits in whole milliseconds), which would add up to a millisecond to
// every open-loop latency. The goroutine's thread blocks meanwhile and the
// runtime hands its processor to other goroutines.
func sleepFor(d time.Duration) {
	ts := syscall.NsecToTimespec(d.Nanoseconds())
	for {
		var left syscall.Timespec
		err := syscall.Nanosleep(&ts, &left)
		if !errors.Is(err, syscall.EINTR) {
			return
		}
		ts = left
	}
}
