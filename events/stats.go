package events

import "sync/atomic"

// Why an event was dropped rather than sent, as Stats and the metrics name
// it.
const (
	// DropQueueFull: the queue held Options.QueueSize events, or
	// Options.QueueBytes of their JSON, already.
	DropQueueFull = "queue_full"
	// DropRejected: the endpoint refused its batch (a 4xx other than 408
	// and 429), or it could not be encoded.
	DropRejected = "rejected"
	// DropGaveUp: its batch kept failing for Options.RetryFor.
	DropGaveUp = "gave_up"
	// DropShutdown: Close's context ended before it was sent.
	DropShutdown = "shutdown"
	// DropClosed: it came after Close.
	DropClosed = "closed"
)

// The reasons' indexes in counters.dropped.
const (
	dropQueueFull = iota
	dropRejected
	dropGaveUp
	dropShutdown
	dropClosed
	numDrops
)

// DropReasons lists every reason an event is dropped for.
var DropReasons = [numDrops]string{DropQueueFull, DropRejected, DropGaveUp, DropShutdown, DropClosed}

// Stats are the processor's counters since it started. Every event queued
// ends sent or dropped: Queued = Sent + Pending + the events dropped as
// rejected, gave_up or shutdown (queue_full and closed events were never
// queued).
type Stats struct {
	// Queued events were accepted; Sent were delivered (a 2xx answer).
	Queued, Sent uint64
	// Batches were delivered; Retried counts POSTs beyond a batch's first.
	Batches, Retried uint64
	// Dropped counts events by reason (see DropReasons).
	Dropped map[string]uint64
	// Pending events are queued and not yet sent or dropped;
	// PendingBytes is the size of their JSON.
	Pending, PendingBytes int64
}

// counters are the processor's atomic counters.
type counters struct {
	queued, sent, batches, retried atomic.Uint64
	dropped                        [numDrops]atomic.Uint64
	pending, pendingBytes          atomic.Int64
	// unencodable counts the events dropped as rejected because JSON
	// cannot hold their tags (also in dropped), to space their log lines:
	// dropped also counts the endpoint's refusals, a batch at a time.
	unencodable atomic.Uint64
}

// Stats returns the processor's counters.
func (p *Processor) Stats() Stats {
	c := &p.c
	s := Stats{
		Queued: c.queued.Load(), Sent: c.sent.Load(), Batches: c.batches.Load(), Retried: c.retried.Load(),
		Pending: c.pending.Load(), PendingBytes: c.pendingBytes.Load(), Dropped: make(map[string]uint64, numDrops),
	}
	for i, r := range DropReasons {
		s.Dropped[r] = c.dropped[i].Load()
	}
	return s
}

// Dropped returns how many events were dropped for reason (0 for a reason
// not in DropReasons).
func (p *Processor) Dropped(reason string) uint64 {
	for i, r := range DropReasons {
		if r == reason {
			return p.c.dropped[i].Load()
		}
	}
	return 0
}

// drop counts b's events, which had been queued, dropped for reason (an
// index).
func (p *Processor) drop(reason int, b *batch) {
	p.c.dropped[reason].Add(uint64(b.n))
	p.settle(b)
}

// settle takes b's events, sent or dropped, out of the queue's bounds.
func (p *Processor) settle(b *batch) {
	p.c.pending.Add(-int64(b.n))
	p.c.pendingBytes.Add(-b.size)
}
