package ups

import (
	"container/list"
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"
)

// Each user's writes form one ordered queue. Users are sharded by ID, one
// worker per shard. A user's accepted saves that wait together are one
// op, merged as they come (coalescing); Delete, SaveFirst, SaveReplacing
// and a save written through a full queue are ops their callers run in
// the user's turn. Of one user only one op runs at a time, in acceptance order. The
// queue is bounded by the users with saves waiting (AsyncSaver.slots).

// opKind is what an operation of the user's queue does.
type opKind uint8

const (
	opSave          opKind = iota // accepted saves, written by the worker
	opDelete                      // run by its caller in the user's turn
	opSaveFirst                   // run by its caller in the user's turn
	opSaveReplacing               // run by its caller in the user's turn
	opWriteThrough                // a save run by its caller (full queue)
)

// String names the kind in errors.
func (k opKind) String() string {
	switch k {
	case opSave:
		return "save"
	case opDelete:
		return "delete"
	case opSaveFirst:
		return "save first"
	case opSaveReplacing:
		return "save replacing"
	default:
		return "write-through save"
	}
}

// op is one entry of a user's queue.
type op struct {
	kind opKind
	p    Profile // the assignments, stamped at acceptance
	// was is what an opSaveReplacing expects the store to hold.
	was map[string]Assignment
	// saves is how many accepted saves an opSave carries.
	saves int
	// turn is closed when a caller-run op may start; handed records it.
	turn   chan struct{}
	handed bool
	// settled records that an opSave was counted (settle); guarded by its
	// shard's mu.
	settled bool
}

// userState is what the saver holds for one user with work waiting or
// running. It is dropped when the user has neither.
type userState struct {
	id      string
	ops     []*op         // waiting, in acceptance order
	running *op           // taken by the worker or handed to its caller
	elem    *list.Element // in shard.ready while a save of the user waits for the worker
	saves   int           // opSave entries in ops
	slot    bool          // holds a token of AsyncSaver.slots
}

// shard is the users whose ID hashes to one worker.
type shard struct {
	mu    sync.Mutex
	users map[string]*userState
	// ready lists the users whose next op is a save and of whom nothing
	// runs, in the order the worker takes them.
	ready list.List
	// callers counts ops handed to their callers and not finished.
	callers int
	closing bool // no new work; the worker exits when users is empty
	aborted bool // Close's context ended; the worker exits once callers is 0
	wake    chan struct{}
}

func (a *AsyncSaver) shard(userID string) *shard {
	return a.shards[maphash.String(a.seed, userID)%uint64(len(a.shards))]
}

// signal wakes the shard's worker. Call with s.mu held or not.
func (s *shard) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// work is one shard's worker: it writes the saves of the users in ready,
// one at a time, until the saver is closed and drained or aborted.
func (a *AsyncSaver) work(s *shard) {
	for {
		s.mu.Lock()
		switch {
		case s.aborted:
			if s.callers == 0 {
				s.mu.Unlock()
				return
			}
		case s.ready.Len() > 0:
			u, o := a.take(s)
			s.mu.Unlock()
			err := a.write(o)
			end := written
			if err != nil {
				end = failed
				if a.abortCtx.Err() != nil {
					end = abandoned
				}
			}
			if end == failed && a.opts.OnError != nil {
				// Before settling, so a failed save counts as done only
				// once OnError was told.
				a.opts.OnError(o.p, err)
			}
			s.mu.Lock()
			a.settle(o, end)
			u.running = nil
			a.dispatch(s, u)
			s.mu.Unlock()
			continue
		case s.closing && len(s.users) == 0:
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		<-s.wake
	}
}

// take removes the first ready user's first op, a save, and marks it
// running. s.mu is held.
func (a *AsyncSaver) take(s *shard) (*userState, *op) {
	u := s.ready.Remove(s.ready.Front()).(*userState)
	u.elem = nil
	o := u.ops[0]
	u.ops = u.ops[1:]
	u.saves--
	a.releaseSlotIfIdle(u)
	u.running = o
	return u, o
}

// releaseSlotIfIdle gives back the user's queue token once no save of it
// waits. s.mu is held.
func (a *AsyncSaver) releaseSlotIfIdle(u *userState) {
	if u.saves == 0 && u.slot {
		u.slot = false
		a.depth.Add(^uint64(0))
		<-a.slots
	}
}

// dispatch starts the user's next op if nothing of the user runs: a save
// is listed for the worker, a caller-run op is handed to its caller. A
// user with nothing left is forgotten. s.mu is held.
func (a *AsyncSaver) dispatch(s *shard, u *userState) {
	if u.running != nil {
		return
	}
	if len(u.ops) == 0 {
		if u.elem != nil {
			s.ready.Remove(u.elem)
			u.elem = nil
		}
		delete(s.users, u.id)
		s.signal() // a closing worker may be waiting for the last user
		return
	}
	head := u.ops[0]
	if head.kind == opSave {
		if u.elem == nil {
			if callerWaits(u.ops) {
				// A Delete or SaveFirst caller waits behind these saves.
				u.elem = s.ready.PushFront(u)
			} else {
				u.elem = s.ready.PushBack(u)
			}
			s.signal()
		}
		return
	}
	if s.aborted {
		return // the waiting callers give up on their own
	}
	if u.elem != nil {
		s.ready.Remove(u.elem)
		u.elem = nil
	}
	u.ops = u.ops[1:]
	u.running = head
	head.handed = true
	s.callers++
	close(head.turn)
}

// enqueue queues q, merging it into the user's waiting save if any. It
// reports false, with no error, when the queue is full and the user has
// nothing queued or running; haveSlot says the caller already holds a
// token, which enqueue then uses or gives back.
func (a *AsyncSaver) enqueue(s *shard, q Profile, haveSlot bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	release := func() {
		if haveSlot {
			<-a.slots
		}
	}
	if s.closing {
		release()
		return false, fmt.Errorf("ups: async save of user %q: %w", q.UserID, ErrClosed)
	}
	u := s.users[q.UserID]
	if u != nil && len(u.ops) > 0 && u.ops[len(u.ops)-1].kind == opSave {
		release()
		last := u.ops[len(u.ops)-1]
		for expID, as := range q.Assignments {
			last.p.Assignments[expID] = as
		}
		last.saves++
		a.accepted.Add(1)
		a.coalesced.Add(1)
		return true, nil
	}
	slot := haveSlot || (u != nil && u.slot)
	if !slot {
		select {
		case a.slots <- struct{}{}:
			slot = true
		default:
		}
	}
	if !slot && u == nil {
		return false, nil
	}
	if u == nil {
		u = &userState{id: q.UserID}
		s.users[q.UserID] = u
	}
	if slot && !u.slot {
		u.slot = true
		a.depth.Add(1)
	} else if haveSlot {
		<-a.slots // the user already held one
	}
	o := &op{kind: opSave, p: q, saves: 1}
	u.ops = append(u.ops, o)
	u.saves++
	a.accepted.Add(1)
	a.dispatch(s, u)
	return true, nil
}

// writeThrough writes q synchronously, in the user's order.
func (a *AsyncSaver) writeThrough(ctx context.Context, q Profile) error {
	return a.inTurn(ctx, &op{kind: opWriteThrough, p: q}, func(ctx context.Context) error {
		return a.next.Save(ctx, q)
	})
}

// inTurn queues a caller-run op in the user's order, waits for its turn
// and runs it with the caller's context, which Close's deadline also
// cancels. A Delete first discards the user's saves still waiting.
func (a *AsyncSaver) inTurn(ctx context.Context, o *op, run func(context.Context) error) error {
	kind, p := o.kind, o.p
	what := kind.String()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ups: async saver: %s of user %q: %w", what, p.UserID, err)
	}
	s := a.shard(p.UserID)
	o.turn = make(chan struct{})
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return fmt.Errorf("ups: async saver: %s of user %q: %w", what, p.UserID, ErrClosed)
	}
	u := s.users[p.UserID]
	if u == nil {
		u = &userState{id: p.UserID}
		s.users[p.UserID] = u
	}
	if kind == opDelete {
		a.discardSaves(s, u)
	}
	u.ops = append(u.ops, o)
	if u.elem != nil {
		s.ready.MoveToFront(u.elem) // the caller waits for the saves ahead
	}
	a.dispatch(s, u)
	s.mu.Unlock()

	select {
	case <-o.turn:
	case <-ctx.Done():
		a.leave(s, u, o)
		return fmt.Errorf("ups: async saver: %s of user %q: waiting for the user's earlier writes: %w", what, p.UserID, ctx.Err())
	case <-a.abortCtx.Done():
		a.leave(s, u, o)
		return fmt.Errorf("ups: async saver: %s of user %q: closed before it ran: %w", what, p.UserID, ErrClosed)
	}
	runCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(a.abortCtx, cancel)
	err := run(runCtx)
	stop()
	cancel()
	a.leave(s, u, o)
	return err
}

// leave ends a caller-run op: it gives the user's turn on if the op had
// it, or takes the op out of the queue if it never ran.
func (a *AsyncSaver) leave(s *shard, u *userState, o *op) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.handed {
		u.running = nil
		s.callers--
		s.signal()
	} else if i := slices.Index(u.ops, o); i >= 0 {
		u.ops = append(u.ops[:i:i], u.ops[i+1:]...)
	}
	a.dispatch(s, u)
}

// callerWaits reports whether a caller-run op is among ops.
func callerWaits(ops []*op) bool {
	return slices.ContainsFunc(ops, func(o *op) bool { return o.kind != opSave })
}

// discardSaves drops the user's waiting saves. s.mu is held.
func (a *AsyncSaver) discardSaves(s *shard, u *userState) {
	kept := u.ops[:0:0]
	for _, o := range u.ops {
		if o.kind == opSave {
			a.settle(o, discarded)
			continue
		}
		kept = append(kept, o)
	}
	u.ops = kept
	u.saves = 0
	a.releaseSlotIfIdle(u)
}
