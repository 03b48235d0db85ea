package decision

import (
	"context"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// A decision whose profile lookup ran out of time is made without the
// user's saved assignments and must not write over one it could not read.
// But a new user decided then would lose the variation just served: the
// next decision, here or in another region, would bucket again (and after
// a datafile change, elsewhere). So its new assignments are written where
// the store holds none — SaveFirst, which never replaces a row — in the
// background, since the decision has already spent its budget.

// maxAbsentWrites bounds the background writes in flight per client;
// beyond it a decision's write is skipped (it was best effort: the store
// is slow enough that lookups time out).
const maxAbsentWrites = 64

// absentAttemptTimeout bounds one try of a background write, at least
// (the first-writer budget when larger): nobody waits for it, and a
// transaction past a frozen coordinator takes a while.
const absentAttemptTimeout = 5 * time.Second

// absentRetryFor bounds the tries of one background write together, as
// the async saver's retries (ups.DefaultAsyncRetryFor): enough to ride out
// a node restart or a saturated cluster, whose tries time out one after
// another.
const absentRetryFor = ups.DefaultAsyncRetryFor

// writeAbsent writes p's assignments where the user has none, in the
// background, if the store can (ups.FirstWriter) and fewer than
// maxAbsentWrites are in flight. A try that finds the store unavailable
// or runs past its timeout is tried again, with waits doubling from
// absentRetryFirst to absentRetryMax, until absentRetryFor has passed.
func (c *Client) writeAbsent(p ups.Profile) {
	fw := c.firstWriter
	if fw == nil {
		return
	}
	select {
	case c.absentSlots <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-c.absentSlots }()
		c.retryAbsent(fw, p, max(c.firstBudget, c.absentAttempt), c.absentRetryFor)
	}()
}

// retryAbsent is writeAbsent's loop: each try bounded by attempt, all of
// them by retryFor.
func (c *Client) retryAbsent(fw ups.FirstWriter, p ups.Profile, attempt, retryFor time.Duration) {
	all, cancel := context.WithTimeout(context.Background(), retryFor)
	defer cancel()
	wait := absentRetryFirst
	for {
		ctx, cancelTry := context.WithTimeout(all, attempt)
		_, err := fw.SaveFirst(ctx, p)
		cancelTry()
		// A try that ran past its own deadline counts as unavailable too.
		if err == nil || all.Err() != nil || !ups.Unavailable(err) {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-all.Done():
			t.Stop()
			return
		}
		wait = min(2*wait, absentRetryMax)
	}
}

// The waits between tries of a background write: doubling from the first
// to the last.
const (
	absentRetryFirst = 50 * time.Millisecond
	absentRetryMax   = 5 * time.Second
)
