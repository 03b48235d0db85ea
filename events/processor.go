package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options, Agent's where Agent has one (flush interval,
// endpoint).
const (
	DefaultURL = "https://logx.optimizely.com/v1/events"
	// DefaultBatchSize is ten times Agent's 10. Each request costs about
	// 100 µs of CPU on each side of loopback here whatever it holds, so
	// batches of 10 cost a service that decides 20,000 times a second
	// 2,000 requests a second, the fifth of its CPU; and over a wide-area
	// network four senders with 10 events per round trip (20–100 ms to
	// logx) deliver at most 400–2,000 events a second, less than one
	// serve decides. A batch of 100 impressions is about 50 KB. Events
	// wait for FlushInterval anyway, so larger batches delay nothing.
	DefaultBatchSize     = 100
	DefaultFlushInterval = 30 * time.Second
	// DefaultQueueSize is ten times Agent's 1,000: this service decides
	// faster, and 10,000 queued events are a few megabytes.
	DefaultQueueSize = 10_000
	// DefaultQueueBytes bounds the bytes of the queued events' JSON: about
	// 6,000 ordinary impressions a megabyte, so the count binds first
	// unless events carry large attributes (a request body may hold a
	// megabyte of them).
	DefaultQueueBytes = 64 << 20
	DefaultSenders    = 4
	DefaultTimeout    = 10 * time.Second
	// A failing batch is retried after RetryInitial, doubling up to
	// RetryMax (each ±20%), for RetryFor.
	DefaultRetryInitial = time.Second
	DefaultRetryMax     = 30 * time.Second
	DefaultRetryFor     = 10 * time.Minute
	// DefaultClientName is the client_name of every batch.
	DefaultClientName = "stickybucket"
)

// Options configures a Processor; zero fields take the defaults.
type Options struct {
	// URL is the event endpoint: Optimizely's (DefaultURL), or another
	// that takes the same batches.
	URL string
	// BatchSize events of one project and revision are sent together; a
	// batch is sent as soon as it is full.
	BatchSize int
	// FlushInterval: every FlushInterval the batches not yet full are
	// sent too.
	FlushInterval time.Duration
	// QueueSize bounds the events queued and not yet sent (waiting,
	// batched or being sent); beyond it events are dropped and counted.
	QueueSize int
	// QueueBytes bounds the same events by the size of their JSON, as
	// encoded when they are queued; beyond it events are dropped and
	// counted as for QueueSize.
	QueueBytes int64
	// Senders is how many batches are sent at once.
	Senders int
	// Timeout bounds one POST.
	Timeout time.Duration
	// RetryInitial, RetryMax and RetryFor shape the retries of a batch
	// after a network error, a 408, 429 or 5xx: waits of RetryInitial
	// doubling up to RetryMax, for RetryFor in all; then the batch is
	// dropped and counted.
	RetryInitial, RetryMax, RetryFor time.Duration
	// ClientName and ClientVersion are sent with every batch; defaults
	// "stickybucket" and the version the binary was built as.
	ClientName, ClientVersion string
	// Client sends the batches; nil: one of net/http's with Timeout.
	Client *http.Client
	// Clock is nil (the real one) except in tests.
	Clock Clock
	// Log receives the endpoint's failures and recoveries; nil means
	// slog.Default().
	Log *slog.Logger
}

// withDefaults fills the zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.QueueSize == 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.QueueBytes == 0 {
		o.QueueBytes = DefaultQueueBytes
	}
	if o.Senders == 0 {
		o.Senders = DefaultSenders
	}
	def(&o.FlushInterval, DefaultFlushInterval)
	def(&o.Timeout, DefaultTimeout)
	def(&o.RetryInitial, DefaultRetryInitial)
	def(&o.RetryMax, DefaultRetryMax)
	def(&o.RetryFor, DefaultRetryFor)
	if o.ClientName == "" {
		o.ClientName = DefaultClientName
	}
	if o.ClientVersion == "" {
		o.ClientVersion = buildVersion()
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	var errs []error
	if u, err := url.Parse(o.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("URL %q is not an http(s) URL", o.URL))
	}
	if o.BatchSize < 1 || o.QueueSize < 1 || o.QueueBytes < 1 || o.Senders < 1 {
		errs = append(errs, fmt.Errorf("BatchSize (%d), QueueSize (%d), QueueBytes (%d) and Senders (%d) must be positive", o.BatchSize, o.QueueSize, o.QueueBytes, o.Senders))
	} else if o.BatchSize > o.QueueSize {
		errs = append(errs, fmt.Errorf("BatchSize %d is over QueueSize %d: no batch could fill", o.BatchSize, o.QueueSize))
	}
	if o.FlushInterval < 0 || o.Timeout < 0 || o.RetryInitial < 0 || o.RetryMax < o.RetryInitial || o.RetryFor < 0 {
		errs = append(errs, errors.New("durations must not be negative, and RetryMax not under RetryInitial"))
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("events: %w", err)
	}
	return o, nil
}

// buildVersion is the module version the binary was built as, without its
// "v"; "0.0.0-dev" when the build does not say (go test, go run).
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return strings.TrimPrefix(v, "v")
		}
	}
	return "0.0.0-dev"
}

// Processor queues events and sends them in batches (see the package
// documentation). It is safe for concurrent use.
type Processor struct {
	opts   Options
	clock  Clock
	client *http.Client
	id     clientID
	log    *slog.Logger

	// mu guards the batches: an event's JSON goes straight into the open
	// batch of its datafile; a full (or flushed) batch moves to ready,
	// where a sender takes it. Nothing is allocated ahead: the queue's
	// bounds are c.pending and c.pendingBytes, the events queued and not
	// yet sent or dropped.
	mu    sync.Mutex
	cond  *sync.Cond // signalled when ready grows, or on close and abort
	open  map[*Project]*batch
	ready []*batch
	// closed: no more events are taken; the senders stop once ready is
	// empty.
	closed bool

	closeOnce sync.Once
	// stopTicker ends the flush ticker at Close.
	stopTicker chan struct{}
	// aborted ends sends and retry waits once Close's context ended.
	aborted context.Context
	abort   context.CancelFunc
	// done is closed when the ticker and every sender have returned.
	done chan struct{}

	// down is whether the endpoint's last answer was a failure, to log
	// only the changes.
	down atomic.Bool

	c counters
}

// batch is events of one datafile, sent in one POST. body is the
// batch's JSON up to its last visitor (appendHeader, then the visitors
// separated by commas): a sender closes it with batchEnd and sends it.
type batch struct {
	body []byte
	n    int   // events in body
	size int64 // their share of c.pendingBytes
}

// maxBatchBytes: a batch holding this much JSON is sent even if it holds
// fewer than BatchSize events, so that large attributes do not make
// requests of many megabytes.
const maxBatchBytes = 1 << 20

// batchBodies recycles the bodies of sent batches (*[]byte); a body grown
// past keptBodyBytes is left to the garbage collector.
var batchBodies sync.Pool

const keptBodyBytes = 4 * maxBatchBytes

// newBatch starts a batch of events that share h.
func (p *Processor) newBatch(h header) *batch {
	var body []byte
	if bp, ok := batchBodies.Get().(*[]byte); ok {
		body = (*bp)[:0]
	} else {
		body = make([]byte, 0, 512+640*min(p.opts.BatchSize, 1000))
	}
	return &batch{body: appendHeader(body, h, p.id)}
}

// release gives b's body back for another batch; b is not used again.
func release(b *batch) {
	if cap(b.body) <= keptBodyBytes {
		body := b.body[:0]
		batchBodies.Put(&body)
	}
	b.body = nil
}

// scratch is what encoding one event takes: a buffer and a UUID stream,
// pooled, so that a request allocates neither.
type scratch struct {
	buf  []byte
	uuid uuids
}

var scratches = sync.Pool{New: func() any { return &scratch{buf: make([]byte, 0, 1024), uuid: newUUIDs()} }}

// New starts a processor: the flush ticker and the senders.
func New(opts Options) (*Processor, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	client := opts.Client
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = opts.Senders
		// A batch's request in one write, not net/http's 4 KiB at a time.
		t.WriteBufferSize = 64 << 10
		client = &http.Client{Timeout: opts.Timeout, Transport: t}
	}
	p := &Processor{
		opts: opts, clock: opts.Clock, client: client, log: opts.Log,
		id:         clientID{name: opts.ClientName, version: opts.ClientVersion},
		open:       map[*Project]*batch{},
		stopTicker: make(chan struct{}),
		done:       make(chan struct{}),
	}
	p.cond = sync.NewCond(&p.mu)
	p.aborted, p.abort = context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tick, stop := p.clock.NewTicker(opts.FlushInterval)
	wg.Go(func() {
		defer stop()
		p.tickLoop(tick)
	})
	for range opts.Senders {
		wg.Go(p.sendLoop)
	}
	go func() {
		wg.Wait()
		close(p.done)
	}()
	return p, nil
}

// URL returns the endpoint the processor sends to.
func (p *Processor) URL() string { return p.opts.URL }

// enqueue encodes it and appends it to the open batch of its datafile,
// handing the batch to the senders once full; or counts it dropped: it
// cannot be encoded (rejected), the queue is full, or the processor
// closed. It is encoded before the lock is taken, so that events queued
// at once encode in parallel and the queue holds bytes, not the caller's
// maps.
func (p *Processor) enqueue(it *item) bool {
	sc := scratches.Get().(*scratch)
	defer func() {
		if cap(sc.buf) <= 64<<10 {
			scratches.Put(sc)
		}
	}()
	uuid := sc.uuid.next()
	v, ok := appendVisitor(sc.buf[:0], it, uuid[:])
	sc.buf = v[:0]
	if !ok {
		p.c.queued.Add(1)
		p.c.dropped[dropRejected].Add(1)
		if n := p.c.unencodable.Add(1); n == 1 || n%1000 == 0 {
			p.log.Error("events: an event whose tags JSON cannot hold (NaN, infinities, channels…) was dropped", "dropped_so_far", n)
		}
		return false
	}
	size := int64(len(v)) + 1 // and its comma
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		p.c.dropped[dropClosed].Add(1)
		return false
	}
	if p.c.pending.Load() >= int64(p.opts.QueueSize) || p.c.pendingBytes.Load()+size > p.opts.QueueBytes {
		p.c.dropped[dropQueueFull].Add(1)
		return false
	}
	p.c.pending.Add(1)
	p.c.pendingBytes.Add(size)
	p.c.queued.Add(1)
	b := p.open[it.project]
	if b == nil {
		b = p.newBatch(it.project.header())
		p.open[it.project] = b
	}
	if b.n > 0 {
		b.body = append(b.body, ',')
	}
	b.body = append(b.body, v...)
	b.n++
	b.size += size
	if b.n >= p.opts.BatchSize || len(b.body) >= maxBatchBytes {
		delete(p.open, it.project)
		p.ready = append(p.ready, b)
		p.cond.Signal()
	}
	return true
}

// tickLoop hands every open batch to the senders at each tick of the
// flush interval, until Close.
func (p *Processor) tickLoop(tick <-chan time.Time) {
	for {
		select {
		case <-tick:
			p.mu.Lock()
			p.flushLocked()
			p.mu.Unlock()
		case <-p.stopTicker:
			return
		}
	}
}

// flushLocked moves every open batch to ready and wakes the senders; mu
// is held.
func (p *Processor) flushLocked() {
	if len(p.open) == 0 {
		return
	}
	for proj, b := range p.open {
		delete(p.open, proj)
		p.ready = append(p.ready, b)
	}
	p.cond.Broadcast()
}

// next waits for a ready batch; nil once the processor is closed and
// nothing is ready.
func (p *Processor) next() *batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.ready) == 0 && !p.closed {
		p.cond.Wait()
	}
	if len(p.ready) == 0 {
		return nil
	}
	b := p.ready[0]
	p.ready[0] = nil
	p.ready = p.ready[1:]
	return b
}

// Close stops taking events and sends every queued one, retrying as
// usual, until ctx ends; then it stops the sends in flight and counts
// what is left as dropped (DropShutdown), which its error says. Close is
// idempotent: a second call does nothing and returns nil.
func (p *Processor) Close(ctx context.Context) error {
	first := false
	p.closeOnce.Do(func() { first = true })
	if !first {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	p.flushLocked()
	p.cond.Broadcast()
	p.mu.Unlock()
	close(p.stopTicker)
	select {
	case <-p.done:
	case <-ctx.Done():
		p.abort() // the senders drop what is left, quickly
		<-p.done
	}
	p.abort()
	p.client.CloseIdleConnections()
	if n := p.c.dropped[dropShutdown].Load(); n > 0 {
		return fmt.Errorf("events: %d events not sent to %s before the deadline: %w", n, p.opts.URL, context.Cause(ctx))
	}
	return nil
}
