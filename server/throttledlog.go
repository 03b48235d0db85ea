package server

import (
	"log/slog"
	"strings"
	"sync"
	"time"
)

// throttledLog is the io.Writer behind net/http's ErrorLog: each kind of
// message (its text up to the first colon after "http: ", so every "TLS
// handshake error from …" is one kind) is logged at most once per
// interval, with how many were suppressed since. A scanner or a broken
// client hitting the TLS port cannot flood the log.
type throttledLog struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	kinds map[string]*logKind
}

type logKind struct {
	last       time.Time
	suppressed int
}

// maxLogKinds bounds the kinds remembered: beyond it, new kinds are
// logged without throttling state, rather than growing the map.
const maxLogKinds = 64

func newThrottledLog(log *slog.Logger, interval time.Duration) *throttledLog {
	return &throttledLog{log: log, interval: interval, now: time.Now, kinds: map[string]*logKind{}}
}

func (t *throttledLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	kind := msg
	if rest, ok := strings.CutPrefix(msg, "http: "); ok {
		if i := strings.Index(rest, " from "); i >= 0 {
			kind = rest[:i]
		} else if i := strings.IndexByte(rest, ':'); i >= 0 {
			kind = rest[:i]
		}
	}
	now := t.now()
	t.mu.Lock()
	k, ok := t.kinds[kind]
	if !ok && len(t.kinds) < maxLogKinds {
		k = &logKind{}
		t.kinds[kind] = k
	}
	var suppressed int
	if k != nil {
		if !k.last.IsZero() && now.Sub(k.last) < t.interval {
			k.suppressed++
			t.mu.Unlock()
			return len(p), nil
		}
		suppressed, k.suppressed, k.last = k.suppressed, 0, now
	}
	t.mu.Unlock()
	if suppressed > 0 {
		t.log.Warn(msg, "suppressed_since_last", suppressed)
	} else {
		t.log.Warn(msg)
	}
	return len(p), nil
}
