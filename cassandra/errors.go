package cassandra

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/ups"
)

// Error codes of the native protocol that mean "not now" rather than "never":
// too few replicas alive, a replica timed out or failed, the coordinator is
// overloaded or still bootstrapping, or a lightweight transaction's outcome
// is unknown.
var transientCodes = map[int]bool{
	gocql.ErrCodeUnavailable:     true,
	gocql.ErrCodeOverloaded:      true,
	gocql.ErrCodeBootstrapping:   true,
	gocql.ErrCodeWriteTimeout:    true,
	gocql.ErrCodeReadTimeout:     true,
	gocql.ErrCodeReadFailure:     true,
	gocql.ErrCodeWriteFailure:    true,
	gocql.ErrCodeCASWriteUnknown: true,
}

// storeError wraps err for op, adding ups.ErrTimeout when err is a
// timeout (the driver's, or a replica's reported by the coordinator),
// ups.ErrUnavailable when it is another error that may pass (dead or too
// few replicas, lost connections) and ups.ErrClosed when the session is
// closed, so layers above can retry or count it without knowing gocql.
func storeError(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	switch {
	case errors.Is(err, gocql.ErrSessionClosed):
		return fmt.Errorf("%s: %w: %w", msg, ups.ErrClosed, err)
	case timeout(err):
		return fmt.Errorf("%s: %w: %w", msg, ups.ErrTimeout, err)
	case transient(err):
		return fmt.Errorf("%s: %w: %w", msg, ups.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// timeout reports whether err says a call ran out of time rather than
// that the cluster refused it. gocql's "no connections" counts as one: it
// is what a speculative attempt reports when the query plan ran dry while
// the first attempt was still waiting (and it wins the race), so on a
// slow cluster it means "not answered in time"; when every node is
// really down, the breaker still opens once nothing answered for its
// unanswered_for.
func timeout(err error) bool {
	var reqErr gocql.RequestError
	if errors.As(err, &reqErr) {
		switch reqErr.Code() {
		case gocql.ErrCodeReadTimeout, gocql.ErrCodeWriteTimeout, gocql.ErrCodeCASWriteUnknown:
			return true
		}
	}
	var netErr net.Error
	return errors.Is(err, gocql.ErrTimeoutNoResponse) || errors.Is(err, gocql.ErrNoConnections) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}

func transient(err error) bool {
	var reqErr gocql.RequestError
	if errors.As(err, &reqErr) && transientCodes[reqErr.Code()] {
		return true
	}
	var netErr net.Error
	switch {
	case errors.Is(err, gocql.ErrTimeoutNoResponse),
		errors.Is(err, gocql.ErrConnectionClosed),
		errors.Is(err, gocql.ErrNoConnections),
		errors.Is(err, gocql.ErrUnavailable),
		errors.Is(err, gocql.ErrNoStreams),
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return true
	}
	return false
}
