package cassandra

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// LogOptions configures NewLogger.
type LogOptions struct {
	// Level is the level gocql's messages are logged at. gocql does not
	// grade its messages; most are about connections failing and
	// reconnecting. The zero value is slog.LevelInfo.
	Level slog.Level
	// Burst messages of one kind are logged at once; after that, one per
	// Every, with the number suppressed in between. Defaults: 5 and 10s.
	Burst int
	Every time.Duration
}

// Logger adapts an slog.Logger to gocql's logger (ClusterConfig.Logger).
// While a node is down gocql repeats the same few messages every second or
// so; Logger keeps each kind (its format string) within a rate and reports
// how many it dropped, so an outage gives a handful of lines rather than
// hundreds.
type Logger struct {
	log  *slog.Logger
	opts LogOptions
	now  func() time.Time // the rate's clock; tests replace it

	mu    sync.Mutex
	kinds map[string]*logKind
}

type logKind struct {
	limit      *rate.Limiter
	suppressed int
}

// maxLogKinds bounds the per-kind state; gocql has a few dozen formats.
const maxLogKinds = 256

// NewLogger returns a gocql logger writing to log (slog.Default() if nil).
func NewLogger(log *slog.Logger, opts LogOptions) *Logger {
	if log == nil {
		log = slog.Default()
	}
	if opts.Burst <= 0 {
		opts.Burst = 5
	}
	if opts.Every <= 0 {
		opts.Every = 10 * time.Second
	}
	return &Logger{log: log.With("component", "gocql"), opts: opts, now: time.Now, kinds: map[string]*logKind{}}
}

// Print implements gocql.StdLogger.
func (l *Logger) Print(v ...any) { l.emit("%v", fmt.Sprint(v...)) }

// Printf implements gocql.StdLogger.
func (l *Logger) Printf(format string, v ...any) { l.emit(format, fmt.Sprintf(format, v...)) }

// Println implements gocql.StdLogger.
func (l *Logger) Println(v ...any) { l.emit("%v", fmt.Sprint(v...)) }

func (l *Logger) emit(kind, msg string) {
	if !l.log.Enabled(context.Background(), l.opts.Level) {
		return
	}
	l.mu.Lock()
	k := l.kinds[kind]
	if k == nil {
		if len(l.kinds) >= maxLogKinds {
			clear(l.kinds)
		}
		k = &logKind{limit: rate.NewLimiter(rate.Every(l.opts.Every), l.opts.Burst)}
		l.kinds[kind] = k
	}
	if !k.limit.AllowN(l.now(), 1) {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := k.suppressed
	k.suppressed = 0
	l.mu.Unlock()
	attrs := []slog.Attr{}
	if suppressed > 0 {
		attrs = append(attrs, slog.Int("suppressed", suppressed))
	}
	l.log.LogAttrs(context.Background(), l.opts.Level, strings.TrimSpace(strings.TrimPrefix(msg, "gocql: ")), attrs...)
}
