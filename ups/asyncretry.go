package ups

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// write writes one op's saves to the store. Each attempt is bounded by
// Timeout. An attempt that finds the store unavailable (Unavailable) is
// retried with exponential backoff and jitter, from RetryInitial doubling
// up to RetryMax, for up to RetryFor (never when RetryFor is negative).
// Any other error is final at once, and so is every error once Close's
// context has ended (abortCtx), which also cancels the attempt running
// and the wait between attempts. The error names the user and wraps the
// store's last error.
func (a *AsyncSaver) write(o *op) error {
	var last error
	attempt := func() (struct{}, error) {
		ctx, cancel := context.WithTimeout(a.abortCtx, a.opts.Timeout)
		defer cancel()
		a.storeWrites.Add(1)
		err := a.next.Save(ctx, o.p)
		if err == nil {
			return struct{}{}, nil
		}
		last = err
		if !Unavailable(err) || a.abortCtx.Err() != nil {
			return struct{}{}, backoff.Permanent(err)
		}
		return struct{}{}, err
	}
	retry := []backoff.RetryOption{
		backoff.WithBackOff(&backoff.ExponentialBackOff{
			InitialInterval:     a.opts.RetryInitial,
			RandomizationFactor: 0.5,
			Multiplier:          2,
			MaxInterval:         a.opts.RetryMax,
		}),
		backoff.WithNotify(func(error, time.Duration) { a.retried.Add(1) }),
	}
	if a.opts.RetryFor < 0 {
		retry = append(retry, backoff.WithMaxTries(1))
	} else {
		retry = append(retry, backoff.WithMaxElapsedTime(a.opts.RetryFor))
	}
	if _, err := backoff.Retry(a.abortCtx, attempt, retry...); err != nil {
		if last == nil {
			last = err
		}
		return fmt.Errorf("ups: async save of user %q (%d assignments): %w", o.p.UserID, len(o.p.Assignments), last)
	}
	return nil
}
