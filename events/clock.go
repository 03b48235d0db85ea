package events

import "time"

// Clock is the processor's time: timestamps, the flush interval and the
// retry backoff. Tests give a fake one.
type Clock interface {
	Now() time.Time
	// NewTicker returns a channel that receives every d, dropping ticks
	// nobody takes, and a function that stops it.
	NewTicker(d time.Duration) (<-chan time.Time, func())
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// realClock is the process's clock.
type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

func (realClock) NewTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
