package ups

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gate holds calls of a fake store until the test lets them through, so a
// test decides exactly how calls interleave.
type gate struct {
	entered chan *gatedCall // every call that reached the gate
	opened  chan struct{}   // closed by open: every call passes
	once    sync.Once
}

// gatedCall is one call waiting at a gate.
type gatedCall struct {
	what    string
	release chan struct{}
}

// let lets this call through.
func (c *gatedCall) let() { close(c.release) }

func newGate() *gate {
	return &gate{entered: make(chan *gatedCall, 1000), opened: make(chan struct{})}
}

// open lets every call through, now and later.
func (g *gate) open() { g.once.Do(func() { close(g.opened) }) }

// pass announces the call and waits for the test or for ctx.
func (g *gate) pass(ctx context.Context, what string) error {
	if g == nil {
		return nil
	}
	c := &gatedCall{what: what, release: make(chan struct{})}
	g.entered <- c
	select {
	case <-c.release:
		return nil
	case <-g.opened:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("fake store: %s: %w", what, ctx.Err())
	}
}

// waitEntered returns the next call that reaches the gate.
func (g *gate) waitEntered(t *testing.T) *gatedCall {
	t.Helper()
	select {
	case c := <-g.entered:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no call reached the gate within 10s")
		return nil
	}
}

// expect waits for the next call and checks what it is.
func (g *gate) expect(t *testing.T, what string) *gatedCall {
	t.Helper()
	c := g.waitEntered(t)
	if c.what != what {
		t.Fatalf("store call %q, want %q", c.what, what)
	}
	return c
}

// describe renders a saved profile for gate messages: "u1 e1=v1 e2=v2".
func describe(p Profile) string {
	var b strings.Builder
	b.WriteString(p.UserID)
	for _, k := range sortedKeys(p.Assignments) {
		b.WriteString(" " + k + "=" + p.Assignments[k].VariationID)
	}
	return b.String()
}

// errUnavailableFake is what fakeStore returns while it is made to fail.
var errUnavailableFake = fmt.Errorf("fake store: node down: %w", ErrUnavailable)

// fakeStore wraps Memory with gates, failures and a record of calls.
// Lookups read Memory first and then wait at the lookup gate, so a gated
// lookup returns what the store held before the test's next move.
type fakeStore struct {
	*Memory
	lookupGate, saveGate, deleteGate atomic.Pointer[gate]
	// failSaves is how many of the next saves fail with an unavailable
	// error; a negative value fails every save.
	failSaves atomic.Int64
	// failAll makes every call fail with this error.
	failAll atomic.Pointer[error]

	lookups, saves, deletes, firsts, replacings atomic.Int64
	active                                      atomic.Int64 // calls still running

	mu      sync.Mutex
	writing map[string]int // saves in progress per user
	overlap bool           // two saves of one user ran at once
	written []Profile      // every save that succeeded, in order
}

func newFake(t *testing.T, opts MemoryOptions) *fakeStore {
	t.Helper()
	m, err := NewMemory(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeStore{Memory: m, writing: map[string]int{}}
}

func (s *fakeStore) failure() error {
	if e := s.failAll.Load(); e != nil {
		return *e
	}
	return nil
}

func (s *fakeStore) Lookup(ctx context.Context, id string) (Profile, error) {
	s.lookups.Add(1)
	s.active.Add(1)
	defer s.active.Add(-1)
	if err := s.failure(); err != nil {
		return Profile{}, err
	}
	p, err := s.Memory.Lookup(ctx, id)
	if err != nil {
		return Profile{}, err
	}
	if err := s.lookupGate.Load().pass(ctx, "lookup "+id); err != nil {
		return Profile{}, err
	}
	return p, nil
}

// LookupExperiments and LookupAssignment go through Lookup so gates and
// failures apply to every read.
func (s *fakeStore) LookupExperiments(ctx context.Context, id string, ids []string) (Profile, error) {
	p, err := s.Lookup(ctx, id)
	if err != nil {
		return Profile{}, err
	}
	return p.subset(ids, s.now()), nil
}

func (s *fakeStore) LookupAssignment(ctx context.Context, id, expID string) (Assignment, bool, error) {
	p, err := s.Lookup(ctx, id)
	if err != nil {
		return Assignment{}, false, err
	}
	a, ok := p.Assignments[expID]
	return a, ok, nil
}

func (s *fakeStore) Save(ctx context.Context, p Profile) error {
	_, err := s.write(ctx, p, writeSave, nil)
	return err
}

func (s *fakeStore) SaveFirst(ctx context.Context, p Profile) (Profile, error) {
	return s.write(ctx, p, writeFirst, nil)
}

func (s *fakeStore) SaveReplacing(ctx context.Context, p Profile, was map[string]Assignment) (Profile, error) {
	return s.write(ctx, p, writeReplacing, was)
}

// writeKind is which write a fakeStore call is.
type writeKind int

const (
	writeSave writeKind = iota
	writeFirst
	writeReplacing
)

func (s *fakeStore) write(ctx context.Context, p Profile, kind writeKind, was map[string]Assignment) (Profile, error) {
	switch kind {
	case writeFirst:
		s.firsts.Add(1)
	case writeReplacing:
		s.replacings.Add(1)
	default:
		s.saves.Add(1)
	}
	s.active.Add(1)
	defer s.active.Add(-1)
	s.mu.Lock()
	s.writing[p.UserID]++
	if s.writing[p.UserID] > 1 {
		s.overlap = true
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.writing[p.UserID]--
		s.mu.Unlock()
	}()
	if err := s.saveGate.Load().pass(ctx, "save "+describe(p)); err != nil {
		return Profile{}, err
	}
	if err := s.failure(); err != nil {
		return Profile{}, err
	}
	if n := s.failSaves.Load(); n != 0 {
		if n > 0 {
			s.failSaves.Add(-1)
		}
		return Profile{}, errUnavailableFake
	}
	var won Profile
	var err error
	switch kind {
	case writeFirst:
		won, err = s.Memory.SaveFirst(ctx, p)
	case writeReplacing:
		won, err = s.Memory.SaveReplacing(ctx, p, was)
	default:
		err = s.Memory.Save(ctx, p)
	}
	if err == nil {
		s.mu.Lock()
		s.written = append(s.written, p.Clone())
		s.mu.Unlock()
	}
	return won, err
}

func (s *fakeStore) Delete(ctx context.Context, id string) error {
	s.deletes.Add(1)
	s.active.Add(1)
	defer s.active.Add(-1)
	if err := s.deleteGate.Load().pass(ctx, "delete "+id); err != nil {
		return err
	}
	if err := s.failure(); err != nil {
		return err
	}
	return s.Memory.Delete(ctx, id)
}

// writes returns the successful saves so far.
func (s *fakeStore) writes() []Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Profile(nil), s.written...)
}

func (s *fakeStore) overlapped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.overlap
}

// lookupOnly is a Service with none of the optional capabilities.
type lookupOnly struct{ Service }

// variation is the variation a profile holds for expID, or "".
func variation(p Profile, expID string) string {
	v, _ := p.Variation(expID)
	return v
}

// mustVariation looks the user up through s and checks expID's variation.
func mustVariation(t *testing.T, s Service, userID, expID, want string) {
	t.Helper()
	p, err := s.Lookup(context.Background(), userID)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", userID, err)
	}
	if got := variation(p, expID); got != want {
		t.Fatalf("Lookup(%s)[%s] = %q, want %q (profile %+v)", userID, expID, got, want, p.Assignments)
	}
}

// eventually waits, bounded, until cond holds: for conditions that other
// goroutines make true and that the test cannot be told of directly.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// result carries a goroutine's answer back to the test.
type result struct {
	p   Profile
	err error
}

var errTest = errors.New("test error")
