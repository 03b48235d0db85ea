package ups

import (
	"context"
	"testing"
	"time"
)

func TestAsyncSaverReadYourWrites(t *testing.T) {
	ctx := context.Background()
	store := newFake(t, MemoryOptions{})
	_ = store.Memory.Save(ctx, oneAssignment("u1", "old", "o"))
	g := newGate()
	store.saveGate.Store(g)
	ret := Retention{Default: time.Hour}
	a := newAsync(t, store, AsyncOptions{Retention: ret})
	defer closeAsync(t, a)
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	inflight := g.expect(t, "save u1 e1=v1")
	mustSave(t, a, oneAssignment("u1", "e2", "v2")) // queued behind
	p, err := a.Lookup(ctx, "u1")
	if err != nil || variation(p, "e1") != "v1" || variation(p, "e2") != "v2" || variation(p, "old") != "o" {
		t.Fatalf("Lookup = %+v, %v; want the stored and both pending assignments", p.Assignments, err)
	}
	if p.Assignments["e1"].ExpiresAt.IsZero() {
		t.Fatal("pending assignment shown without the store's expiry")
	}
	p, err = a.LookupExperiments(ctx, "u1", []string{"e2", "old"})
	if err != nil || len(p.Assignments) != 2 || variation(p, "e2") != "v2" {
		t.Fatalf("LookupExperiments = %+v, %v", p.Assignments, err)
	}
	if as, ok, err := a.LookupAssignment(ctx, "u1", "e1"); err != nil || !ok || as.VariationID != "v1" {
		t.Fatalf("LookupAssignment = %+v %v %v", as, ok, err)
	}
	inflight.let()
	g.expect(t, "save u1 e2=v2").let()
	a.flush(t)
	mustVariation(t, a, "u1", "e2", "v2")
}

func TestAsyncSaverHidesExpiredPendingAssignments(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := newFake(t, MemoryOptions{})
	g := newGate()
	store.saveGate.Store(g)
	a := newAsync(t, store, AsyncOptions{Retention: Retention{Default: time.Hour}, Now: clk.Now})
	mustSave(t, a, oneAssignment("u1", "e1", "v1"))
	held := g.expect(t, "save u1 e1=v1")
	clk.Advance(time.Hour)
	if as, ok, err := a.LookupAssignment(ctx, "u1", "e1"); err != nil || ok || as != (Assignment{}) {
		t.Fatalf("LookupAssignment past the retention = %+v %v %v, want none", as, ok, err)
	}
	if p, err := a.Lookup(ctx, "u1"); err != nil || !p.Empty() {
		t.Fatalf("Lookup past the retention = %+v %v, want none", p.Assignments, err)
	}
	held.let()
	closeAsync(t, a)
}

// TestOverlayOfPendingWrites lays queued ops over a store's answer, as a
// lookup through the saver does.
func TestOverlayOfPendingWrites(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	save := func(kind opKind, pairs ...string) *op {
		p := NewProfile("u1")
		for i := 0; i < len(pairs); i += 2 {
			p.Assignments[pairs[i]] = Assignment{VariationID: pairs[i+1], ExpiresAt: now.Add(time.Hour)}
		}
		return &op{kind: kind, p: p}
	}
	stored := func() Profile {
		p := NewProfile("u1")
		p.Set("old", "o")
		p.Set("e1", "stored")
		return p
	}
	for _, tc := range []struct {
		name string
		ops  []*op
		want string
	}{
		{"saves, later ones winning", []*op{save(opSave, "e1", "a", "e2", "b"), save(opWriteThrough, "e1", "c")}, "u1 e1=c e2=b old=o"},
		{"a delete voids the store and what came before", []*op{save(opSave, "e2", "b"), {kind: opDelete}, save(opSave, "e3", "c")}, "u1 e3=c"},
		{"a first write is unknown over the store", []*op{save(opSaveFirst, "e1", "f", "e4", "f")}, "u1 e1=stored old=o"},
		{"a first write after a delete takes the free entries", []*op{{kind: opDelete}, save(opSave, "e1", "a"), save(opSaveFirst, "e1", "f", "e4", "f")}, "u1 e1=a e4=f"},
		{"a replacement is unknown over the store", []*op{replacing(now, nil, "e1", "r")}, "u1 e1=stored old=o"},
		{"a replacement of what a queued save set takes it", []*op{save(opSave, "e1", "a"), replacing(now, map[string]string{"e1": "a"}, "e1", "r")}, "u1 e1=r old=o"},
		{"a replacement of something else loses to a queued save", []*op{save(opSave, "e1", "a"), replacing(now, map[string]string{"e1": "stored"}, "e1", "r")}, "u1 e1=a old=o"},
		{"a replacement after a delete takes the free entries", []*op{{kind: opDelete}, save(opSave, "e2", "a"), replacing(now, map[string]string{"e1": "stored"}, "e1", "r", "e2", "r", "e3", "r")}, "u1 e1=r e2=a e3=r"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ov := overlay{set: map[string]Assignment{}}
			for _, o := range tc.ops {
				ov.add(o)
			}
			p := stored()
			ov.apply(&p, now)
			if got := describe(p); got != tc.want {
				t.Errorf("overlaid %s, want %s", got, tc.want)
			}
		})
	}
	t.Run("expired entries are not shown", func(t *testing.T) {
		ov := overlay{set: map[string]Assignment{}}
		ov.add(save(opSave, "e1", "a"))
		p := stored()
		ov.apply(&p, now.Add(time.Hour))
		if got := describe(p); got != "u1 e1=stored old=o" {
			t.Errorf("overlaid %s past the pending entry's expiry", got)
		}
	})
}

// replacing is a SaveReplacing op of pairs expecting was (experiment ID to
// variation, with no DecidedAt, as save builds them).
func replacing(now time.Time, was map[string]string, pairs ...string) *op {
	o := &op{kind: opSaveReplacing, p: NewProfile("u1"), was: map[string]Assignment{}}
	for i := 0; i < len(pairs); i += 2 {
		o.p.Assignments[pairs[i]] = Assignment{VariationID: pairs[i+1], ExpiresAt: now.Add(time.Hour)}
	}
	for expID, v := range was {
		o.was[expID] = Assignment{VariationID: v}
	}
	return o
}
