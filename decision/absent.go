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

// absentTimeout bounds one background write, at least: nobody waits for
// it, and a transaction past a frozen coordinator takes a while.
const absentTimeout = 5 * time.Second

// writeAbsent writes p's assignments where the user has none, in the
// background, if the store can (ups.FirstWriter) and fewer than
// maxAbsentWrites are in flight.
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
	timeout := max(c.firstBudget, absentTimeout)
	go func() {
		defer func() { <-c.absentSlots }()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		// A store that is unavailable for a moment (a coordinator just
		// died) is tried again until the timeout.
		wait := absentRetryFirst
		for {
			_, err := fw.SaveFirst(ctx, p)
			if err == nil || !ups.Unavailable(err) || ctx.Err() != nil {
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			wait = min(2*wait, absentRetryMax)
		}
	}()
}

// The waits between tries of a background write: doubling from the first
// to the last.
const (
	absentRetryFirst = 50 * time.Millisecond
	absentRetryMax   = time.Second
)
