package ups

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// layer wraps a Service in one of this package's layers.
type layer struct {
	name string
	wrap func(t *testing.T, next Service, st *stack) Service
}

// stack is a built stack of layers over a fake store.
type stack struct {
	top   Service
	async *AsyncSaver // nil when the stack has none
	store *fakeStore
}

var layers = []layer{
	{"Cache", func(t *testing.T, next Service, _ *stack) Service {
		c, err := NewCache(next, CacheOptions{Size: 100, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}},
	{"AsyncSaver", func(t *testing.T, next Service, st *stack) Service {
		st.async = newAsync(t, next, AsyncOptions{})
		return st.async
	}},
	{"Breaker", func(t *testing.T, next Service, _ *stack) Service {
		return newBreaker(t, next, BreakerOptions{})
	}},
}

// orders returns every ordering of every non-empty subset of ls.
func orders(ls []layer) [][]layer {
	var out [][]layer
	var walk func(prefix []layer, rest []layer)
	walk = func(prefix, rest []layer) {
		if len(prefix) > 0 {
			out = append(out, append([]layer(nil), prefix...))
		}
		for i, l := range rest {
			others := append(append([]layer(nil), rest[:i]...), rest[i+1:]...)
			walk(append(prefix, l), others)
		}
	}
	walk(nil, ls)
	return out
}

// build stacks ls over a fresh fake store, ls[0] outermost.
func build(t *testing.T, ls []layer) *stack {
	st := &stack{store: newFake(t, MemoryOptions{})}
	var s Service = st.store
	for i := len(ls) - 1; i >= 0; i-- {
		s = ls[i].wrap(t, s, st)
	}
	st.top = s
	return st
}

func stackName(ls []layer) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.name
	}
	return strings.Join(names, "(") + "(Memory" + strings.Repeat(")", len(ls))
}

// flush writes out what an AsyncSaver in the stack holds.
func (st *stack) flush(t *testing.T) {
	t.Helper()
	if st.async != nil {
		st.async.flush(t)
	}
}

func TestLayersStackedInEveryOrder(t *testing.T) {
	all := orders(layers)
	if len(all) != 15 {
		t.Fatalf("%d stacks, want 15", len(all))
	}
	for _, ls := range all {
		t.Run(stackName(ls), func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			ctx := context.Background()
			st := build(t, ls)
			s := st.top

			// Save, then every kind of lookup sees it at once.
			p := NewProfile("u1")
			p.Set("e1", "v1")
			p.Set("e2", "v2")
			mustSave(t, s, p)
			mustVariation(t, s, "u1", "e2", "v2")
			scoped, err := s.(ScopedLookuper).LookupExperiments(ctx, "u1", []string{"e1", "zz"})
			if err != nil || fmt.Sprint(sortedKeys(scoped.Assignments)) != "[e1]" {
				t.Fatalf("LookupExperiments = %+v, %v", scoped.Assignments, err)
			}
			if a, ok, err := s.(AssignmentLookuper).LookupAssignment(ctx, "u1", "e1"); err != nil || !ok || a.VariationID != "v1" {
				t.Fatalf("LookupAssignment = %+v %v %v", a, ok, err)
			}

			// SaveFirst: the saved assignment wins, the free one is written.
			first := NewProfile("u1")
			first.Set("e1", "other")
			first.Set("e3", "v3")
			won, err := s.(FirstWriter).SaveFirst(ctx, first)
			if err != nil || fmt.Sprint(sortedKeys(won.Assignments)) != "[e1]" || variation(won, "e1") != "v1" {
				t.Fatalf("SaveFirst = %+v, %v; want e1=v1 to win", won.Assignments, err)
			}
			mustVariation(t, s, "u1", "e3", "v3")
			st.flush(t)
			mustVariation(t, st.store.Memory, "u1", "e1", "v1")
			mustVariation(t, st.store.Memory, "u1", "e3", "v3")

			// SaveReplacing of what was read through the stack: written;
			// of what is no longer stored: the stored one wins.
			read, err := s.Lookup(ctx, "u1")
			if err != nil {
				t.Fatal(err)
			}
			replacing := NewProfile("u1")
			replacing.Set("e1", "r1")
			replacing.Set("e2", "r2")
			stale := map[string]Assignment{"e1": read.Assignments["e1"], "e2": {VariationID: "not-v2"}}
			won, err = s.(Replacer).SaveReplacing(ctx, replacing, stale)
			if err != nil || fmt.Sprint(sortedKeys(won.Assignments)) != "[e2]" || variation(won, "e2") != "v2" {
				t.Fatalf("SaveReplacing = %+v, %v; want e1 replaced and e2=v2 to win", won.Assignments, err)
			}
			mustVariation(t, s, "u1", "e1", "r1")
			mustVariation(t, s, "u1", "e2", "v2")
			mustVariation(t, st.store.Memory, "u1", "e1", "r1")

			// Delete with saves of the user still queued or being
			// written: none of them may bring the user back.
			g := newGate()
			if st.async != nil {
				st.store.saveGate.Store(g)
			}
			mustSave(t, s, oneAssignment("u2", "e1", "v1"))
			var held *gatedCall
			if st.async != nil {
				held = g.expect(t, "save u2 e1=v1")
				mustSave(t, s, oneAssignment("u2", "e2", "v2"))
			}
			mustVariation(t, s, "u2", "e1", "v1")
			deleted := make(chan error, 1)
			go func() { deleted <- s.(Deleter).Delete(ctx, "u2") }()
			if held != nil {
				eventually(t, "the delete to queue", func() bool { return st.async.Stats().Discarded == 1 })
				held.let()
			}
			if err := <-deleted; err != nil {
				t.Fatalf("Delete: %v", err)
			}
			g.open()
			st.flush(t)
			if got, err := s.Lookup(ctx, "u2"); err != nil || !got.Empty() {
				t.Fatalf("Lookup after Delete = %+v, %v", got.Assignments, err)
			}
			if got, _ := st.store.Memory.Lookup(ctx, "u2"); !got.Empty() {
				t.Fatalf("the store holds %+v after Delete", got.Assignments)
			}

			// Close goes all the way down and stops every goroutine.
			if err := s.(Closer).Close(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Lookup(ctx, "u1"); err == nil {
				t.Fatal("Lookup after Close succeeded")
			}
			if _, err := st.store.Memory.Lookup(ctx, "u1"); err == nil {
				t.Fatal("Close did not reach the store")
			}
		})
	}
}

// TestLayersAgreeWithAModel drives each user from its own goroutine with a
// random mix of saves, SaveFirst, SaveReplacing, deletes and lookups through
// Cache(AsyncSaver(Breaker(store))), with transient store failures and a
// small queue, and checks every answer against a per-user model of what
// the user holds.
func TestLayersAgreeWithAModel(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	store.failSaves.Store(100)
	br := newBreaker(t, store, BreakerOptions{Failures: 1 << 20})
	async := newAsync(t, br, AsyncOptions{Workers: 2, QueueSize: 4, FullWait: time.Minute})
	cache, err := NewCache(async, CacheOptions{Size: 8, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const users, steps = 16, 150
	models := make([]map[string]string, users)
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(u), 7))
			id := fmt.Sprintf("u%d", u)
			model := map[string]string{}
			var last Profile // what the last lookup showed
			defer func() { models[u] = model }()
			for step := range steps {
				p := NewProfile(id)
				for range 1 + rng.IntN(2) {
					p.Set(fmt.Sprintf("e%d", rng.IntN(4)), fmt.Sprintf("v%d", step))
				}
				switch r := rng.IntN(12); {
				case r < 6:
					if err := cache.Save(ctx, p); err != nil {
						t.Errorf("%s: Save: %v", id, err)
						return
					}
					for e, a := range p.Assignments {
						model[e] = a.VariationID
					}
				case r < 8:
					won, err := cache.SaveFirst(ctx, p)
					if err != nil {
						if !Unavailable(err) {
							t.Errorf("%s: SaveFirst: %v", id, err)
							return
						}
						continue // the store failed it: nothing written
					}
					for e, a := range p.Assignments {
						want, taken := model[e]
						if got := variation(won, e); got != want {
							t.Errorf("%s step %d: SaveFirst winner of %s = %q, want %q", id, step, e, got, want)
							return
						}
						if !taken {
							model[e] = a.VariationID
						}
					}
				case r < 10:
					// Replace what the last lookup showed, or, for one
					// experiment, a variation that was never stored.
					was := map[string]Assignment{}
					maps.Copy(was, last.Assignments)
					stale := ""
					if rng.IntN(2) == 0 {
						stale = fmt.Sprintf("e%d", rng.IntN(4))
						was[stale] = Assignment{VariationID: "stale"}
					}
					won, err := cache.SaveReplacing(ctx, p, was)
					if err != nil {
						if !Unavailable(err) {
							t.Errorf("%s: SaveReplacing: %v", id, err)
							return
						}
						continue // the store failed it: nothing written
					}
					for e, a := range p.Assignments {
						want, taken := model[e]
						loses := taken && e == stale
						if got := variation(won, e); loses && got != want || !loses && got != "" {
							t.Errorf("%s step %d: SaveReplacing winner of %s = %q, model holds %q (stale %v)", id, step, e, got, want, e == stale)
							return
						}
						if !loses {
							model[e] = a.VariationID
						}
					}
				default:
					if err := cache.Delete(ctx, id); err != nil {
						t.Errorf("%s: Delete: %v", id, err)
						return
					}
					clear(model)
				}
				got, err := cache.Lookup(ctx, id)
				if err != nil {
					t.Errorf("%s: Lookup: %v", id, err)
					return
				}
				if !sameAssignments(got, model) {
					t.Errorf("%s step %d: Lookup = %s, want %v", id, step, describe(got), model)
					return
				}
				last = got
			}
		})
	}
	wg.Wait()
	async.flush(t)
	for u := range users {
		id := fmt.Sprintf("u%d", u)
		got, _ := store.Memory.Lookup(ctx, id)
		if !sameAssignments(got, models[u]) {
			t.Errorf("store holds %s, want %v", describe(got), models[u])
		}
	}
	if store.overlapped() {
		t.Error("two writes of one user ran at once")
	}
	st := async.Stats()
	if st.Pending != 0 || st.Accepted != st.Written+st.Failed+st.Discarded+st.Abandoned || st.Failed != 0 {
		t.Errorf("stats %+v do not add up", st)
	}
	t.Logf("async %+v; cache %+v", st, cache.Stats())
	if err := cache.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func sameAssignments(p Profile, model map[string]string) bool {
	if len(p.Assignments) != len(model) {
		return false
	}
	for e, v := range model {
		if variation(p, e) != v {
			return false
		}
	}
	return true
}
