package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Notifications broadcasts the decision and track notifications of the
// API's routes to the subscribers of GET /v1/notifications/event-stream,
// as Optimizely Agent streams its SDK clients' notification centers.
//
// It never slows a decision: each subscriber has a bounded buffer, and a
// message that does not fit is dropped for that subscriber (and counted).
// With no subscriber a route pays one atomic load and allocates nothing.
// Close ends every stream, first of all on shutdown: a stream never ends
// on its own, so the server's graceful drain would otherwise wait for it.
type Notifications struct {
	// active counts subscribers: the routes' only cost when it is 0.
	active atomic.Int64

	// mu guards subs and closed: publishers share it (their sends never
	// wait), subscribing and closing take it alone.
	mu     sync.RWMutex
	subs   map[*subscriber]struct{}
	closed bool
	done   chan struct{} // closed by Close

	max, buffer int
	dropped     prometheus.Counter
	sent        prometheus.Counter
	gauge       prometheus.Gauge
}

// NotificationOptions configures NewNotifications.
type NotificationOptions struct {
	// MaxSubscribers bounds the streams open at once; one more is refused
	// with 503. Default DefaultMaxSubscribers.
	MaxSubscribers int
	// Buffer is how many messages a subscriber may fall behind before its
	// new messages are dropped. Default DefaultNotificationBuffer.
	Buffer int
	// Registerer, when set, gets the counters
	// stickybucket_notifications_sent_total and
	// stickybucket_notifications_dropped_total, and the gauge
	// stickybucket_notification_subscribers.
	Registerer prometheus.Registerer
}

// Defaults of NotificationOptions.
const (
	DefaultMaxSubscribers     = 100
	DefaultNotificationBuffer = 1024
)

// Notification types, as Agent's filter query parameter names them (the
// Go SDK's notification.Type values).
const (
	notifyDecision     = "decision"
	notifyTrack        = "track"
	notifyConfigUpdate = "project_config_update"
)

// notifyMask is a set of notification types.
type notifyMask uint8

const (
	maskDecision notifyMask = 1 << iota
	maskTrack
	maskConfigUpdate
	maskAll = maskDecision | maskTrack | maskConfigUpdate
)

// errTooManySubscribers and errNotificationsClosed refuse a subscription.
var (
	errTooManySubscribers  = errors.New("too many notification streams are open")
	errNotificationsClosed = errors.New("the service is shutting down")
)

// subscriber is one open stream: the SDK key whose notifications it
// receives, the types it wants, and its bounded queue.
type subscriber struct {
	sdkKey string
	mask   notifyMask
	ch     chan []byte
}

// NewNotifications returns a broadcaster with no subscriber.
func NewNotifications(opts NotificationOptions) (*Notifications, error) {
	if opts.MaxSubscribers < 0 || opts.Buffer < 0 {
		return nil, fmt.Errorf("server: notifications: MaxSubscribers (%d) and Buffer (%d) must not be negative", opts.MaxSubscribers, opts.Buffer)
	}
	n := &Notifications{
		subs:   map[*subscriber]struct{}{},
		done:   make(chan struct{}),
		max:    opts.MaxSubscribers,
		buffer: opts.Buffer,
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stickybucket_notifications_dropped_total",
			Help: "Notification messages not delivered to a /v1/notifications/event-stream subscriber whose buffer was full (a slow reader).",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stickybucket_notifications_sent_total",
			Help: "Notification messages queued for /v1/notifications/event-stream subscribers.",
		}),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "stickybucket_notification_subscribers",
			Help: "Open /v1/notifications/event-stream streams.",
		}),
	}
	if n.max == 0 {
		n.max = DefaultMaxSubscribers
	}
	if n.buffer == 0 {
		n.buffer = DefaultNotificationBuffer
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{n.dropped, n.sent, n.gauge} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("server: notifications: register metrics: %w", err)
			}
		}
	}
	return n, nil
}

// on reports whether anyone listens; false for a nil broadcaster.
func (n *Notifications) on() bool { return n != nil && n.active.Load() > 0 }

// subscribe opens a subscription to sdkKey's notifications of the types
// in mask.
func (n *Notifications) subscribe(sdkKey string, mask notifyMask) (*subscriber, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, errNotificationsClosed
	}
	if len(n.subs) >= n.max {
		return nil, fmt.Errorf("%w (the limit is %d): try again later", errTooManySubscribers, n.max)
	}
	s := &subscriber{sdkKey: sdkKey, mask: mask, ch: make(chan []byte, n.buffer)}
	n.subs[s] = struct{}{}
	n.active.Add(1)
	n.gauge.Inc()
	return s, nil
}

// unsubscribe closes s's subscription; a second call does nothing.
func (n *Notifications) unsubscribe(s *subscriber) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.subs[s]; ok {
		delete(n.subs, s)
		n.active.Add(-1)
		n.gauge.Dec()
	}
}

// publish queues msg, a notification of type t for sdkKey, for every
// subscriber that wants it, without waiting: a full queue loses msg.
// Subscribers share msg and only read it.
func (n *Notifications) publish(sdkKey string, t notifyMask, msg []byte) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	for s := range n.subs {
		if s.sdkKey != sdkKey || s.mask&t == 0 {
			continue
		}
		select {
		case s.ch <- msg:
			n.sent.Inc()
		default:
			n.dropped.Inc()
		}
	}
}

// Close ends every stream and refuses new ones; call it when the server
// starts shutting down (ServerOptions.OnShutdown). It is idempotent and
// safe on nil.
func (n *Notifications) Close() {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.closed {
		n.closed = true
		close(n.done)
	}
}

// DatafileUpdated notifies sdkKey's subscribers that its datafile now
// has revision, with the Go SDK's project_config_update notification
// ({"Type":"project_config_update","Revision":…}), which Agent's stream
// sends when its SDK client's datafile changes. Call it when a reload
// changes the revision, not when it finds the same one. Safe on nil.
func (n *Notifications) DatafileUpdated(sdkKey, revision string) {
	if !n.on() {
		return
	}
	// The SDK's notification.ProjectConfigUpdateNotification.
	msg, err := json.Marshal(struct{ Type, Revision string }{notifyConfigUpdate, revision})
	if err != nil {
		return // a string always encodes
	}
	n.publish(sdkKey, maskConfigUpdate, msg)
}

// Subscribers returns how many streams are open.
func (n *Notifications) Subscribers() int {
	if n == nil {
		return 0
	}
	return int(n.active.Load())
}

// parseFilter reads Agent's filter query parameter: repeatable, each a
// comma-separated list of types; unknown types are ignored. No filter at
// all wants every type; filters naming no known type want none (as
// Agent: the stream stays open and silent).
func parseFilter(filters []string) notifyMask {
	if len(filters) == 0 {
		return maskAll
	}
	var m notifyMask
	for _, f := range filters {
		for _, t := range strings.Split(f, ",") {
			switch t {
			case notifyDecision:
				m |= maskDecision
			case notifyTrack:
				m |= maskTrack
			case notifyConfigUpdate:
				m |= maskConfigUpdate
			}
		}
	}
	return m
}
