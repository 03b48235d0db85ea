package decision

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// gatedFirstWrites holds every SaveFirst until release is closed (or the
// try's context ends), telling entered each time one begins.
type gatedFirstWrites struct {
	mem     *ups.Memory
	entered chan struct{}
	release chan struct{}
}

func (g *gatedFirstWrites) SaveFirst(ctx context.Context, p ups.Profile) (ups.Profile, error) {
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return g.mem.SaveFirst(ctx, p)
	case <-ctx.Done():
		return ups.Profile{}, ctx.Err()
	}
}

func newGated(t *testing.T) *gatedFirstWrites {
	mem, _ := newPolicyStore(t, 0)
	return &gatedFirstWrites{mem: mem, entered: make(chan struct{}, 16), release: make(chan struct{})}
}

// TestBackgroundWritesBoundAndCounters: beyond the bound in flight a
// write is skipped and counted; the others are written once released.
func TestBackgroundWritesBoundAndCounters(t *testing.T) {
	g := newGated(t)
	w := NewBackgroundWrites(2)
	for _, u := range []string{"u1", "u2", "u3"} {
		p := ups.NewProfile(u)
		p.Set("1000", "1001")
		w.write(g, p, time.Minute)
	}
	<-g.entered
	<-g.entered
	if s := w.Stats(); s.Started != 2 || s.Pending != 2 || s.Skipped != 1 {
		t.Fatalf("with two held: %+v, want 2 started and pending, 1 skipped", s)
	}
	close(g.release)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Written != 2 || s.Pending != 0 || s.Failed != 0 {
		t.Fatalf("after release and Close: %+v, want 2 written", s)
	}
	for _, u := range []string{"u1", "u2"} {
		if _, ok, _ := g.mem.LookupAssignment(context.Background(), u, "1000"); !ok {
			t.Errorf("%s not written", u)
		}
	}
	// Closed: a later write is skipped.
	p := ups.NewProfile("u4")
	p.Set("1000", "1001")
	w.write(g, p, time.Minute)
	if s := w.Stats(); s.Skipped != 2 || s.Started != 2 {
		t.Fatalf("after Close: %+v, want the write skipped", s)
	}
}

// TestBackgroundWritesCloseEndsWithItsContext: Close waits for a write
// in flight until its context ends, then cancels it (counted as failed).
func TestBackgroundWritesCloseEndsWithItsContext(t *testing.T) {
	g := newGated(t)
	w := NewBackgroundWrites(0)
	p := ups.NewProfile("u1")
	p.Set("1000", "1001")
	w.write(g, p, time.Minute)
	<-g.entered
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error, 1)
	go func() { closed <- w.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a write in flight and its context alive", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-closed; !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v, want context.Canceled", err)
	}
	if s := w.Stats(); s.Failed != 1 || s.Pending != 0 {
		t.Fatalf("%+v, want the write failed", s)
	}
}
