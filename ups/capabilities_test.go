package ups

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
)

// wrapper builds one of the package's layers over next.
type wrapper struct {
	name string
	wrap func(t *testing.T, next Service) Layer
}

// wrappers is every layer of the package. The saver is closed when the
// test ends (closing what it wraps too).
var wrappers = []wrapper{
	{"Cache", func(t *testing.T, next Service) Layer {
		c, err := NewCache(next, CacheOptions{Size: 10, TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}},
	{"AsyncSaver", func(t *testing.T, next Service) Layer {
		a := newAsync(t, next, AsyncOptions{})
		t.Cleanup(func() { closeAsync(t, a) })
		return a
	}},
	{"Breaker", func(t *testing.T, next Service) Layer {
		return newBreaker(t, next, BreakerOptions{})
	}},
	{"Observed", func(t *testing.T, next Service) Layer {
		o, err := NewObserved(next, func(string, time.Duration, error) {})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}},
	{"Traced", func(t *testing.T, next Service) Layer {
		tr, err := NewTraced(next, TracedOptions{Tracer: noop.NewTracerProvider().Tracer("test")})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}},
}

// deleterOnly is a store whose one optional capability is Deleter.
type deleterOnly struct {
	Service
	Deleter
}

// capabilityStores are stores with every capability, none, or some.
func capabilityStores(t *testing.T) map[string]Service {
	t.Helper()
	m := func() *Memory {
		m, err := NewMemory(MemoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	deleting := m()
	return map[string]Service{
		"Memory":      m(),
		"lookupOnly":  lookupOnly{m()},
		"deleterOnly": deleterOnly{lookupOnly{deleting}, deleting},
	}
}

// checkAs checks that As[C] on top agrees with what the bare store below
// it offers, and hands over top itself.
func checkAs[C any](t *testing.T, top, store Service) {
	t.Helper()
	_, want := store.(C)
	got, ok := As[C](top)
	if ok != want {
		t.Errorf("As[%T](%s) = %v, the store under it: %v", (*C)(nil), describeStack(top), ok, want)
	}
	if ok && any(got) != any(top) {
		t.Errorf("As[%T](%s) returned %T, not the top", (*C)(nil), describeStack(top), got)
	}
}

// describeStack names the Services from top down: "Cache(Breaker(Memory))".
func describeStack(s Service) string {
	var names []string
	for s != nil {
		names = append(names, typeName(s))
		u, ok := s.(interface{ Unwrap() Service })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	return strings.Join(names, "(") + strings.Repeat(")", len(names)-1)
}

// typeName is s's type without the package: "Cache", "lookupOnly".
func typeName(s Service) string {
	return strings.TrimPrefix(strings.TrimPrefix(fmt.Sprintf("%T", s), "*"), "ups.")
}

// checkCapabilities asks top for everything: Service and the reads always
// work (the reads made of Lookup where the store cannot), Delete,
// SaveFirst and SaveReplacing work exactly when the store under top has
// them, and fail with errors.ErrUnsupported when it does not.
func checkCapabilities(t *testing.T, top, store Service) {
	t.Helper()
	ctx := context.Background()
	name := describeStack(top)
	p := NewProfile("u1")
	p.Set("e1", "v1")
	p.Set("e2", "v2")
	if err := top.Save(ctx, p); err != nil {
		t.Fatalf("%s: Save: %v", name, err)
	}
	for _, sl := range []ScopedLookuper{top.(ScopedLookuper), ScopedLookuperOf(top)} {
		got, err := sl.LookupExperiments(ctx, "u1", []string{"e2", "zz"})
		if err != nil || len(got.Assignments) != 1 || variation(got, "e2") != "v2" {
			t.Errorf("%s: LookupExperiments by %T = %+v, %v; want e2=v2", name, sl, got.Assignments, err)
		}
	}
	for _, al := range []AssignmentLookuper{top.(AssignmentLookuper), AssignmentLookuperOf(top)} {
		if a, ok, err := al.LookupAssignment(ctx, "u1", "e1"); err != nil || !ok || a.VariationID != "v1" {
			t.Errorf("%s: LookupAssignment by %T = %+v %v %v; want v1", name, al, a, ok, err)
		}
		if _, ok, err := al.LookupAssignment(ctx, "u1", "zz"); err != nil || ok {
			t.Errorf("%s: LookupAssignment of none by %T = %v %v", name, al, ok, err)
		}
	}

	_, canFirst := store.(FirstWriter)
	won, err := top.(FirstWriter).SaveFirst(ctx, oneAssignment("u1", "e1", "other"))
	switch {
	case canFirst && (err != nil || variation(won, "e1") != "v1"):
		t.Errorf("%s: SaveFirst = %+v, %v; want e1=v1 to win", name, won.Assignments, err)
	case !canFirst && !errors.Is(err, errors.ErrUnsupported):
		t.Errorf("%s: SaveFirst over a store without it = %v, want ErrUnsupported", name, err)
	}

	_, canReplace := store.(Replacer)
	stale := map[string]Assignment{"e1": {VariationID: "gone"}, "e2": {VariationID: "v2"}}
	replacing := NewProfile("u1")
	replacing.Set("e1", "other")
	replacing.Set("e2", "v2b")
	if canReplace {
		// The caller read e2 through top as it is stored.
		a, _, _ := AssignmentLookuperOf(top).LookupAssignment(ctx, "u1", "e2")
		stale["e2"] = a
	}
	won, err = top.(Replacer).SaveReplacing(ctx, replacing, stale)
	switch {
	case canReplace && (err != nil || variation(won, "e1") != "v1" || len(won.Assignments) != 1):
		t.Errorf("%s: SaveReplacing = %+v, %v; want e1=v1 to win, e2 replaced", name, won.Assignments, err)
	case canReplace:
		mustVariation(t, top, "u1", "e2", "v2b")
	case !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "not a Replacer"):
		t.Errorf("%s: SaveReplacing over a store without it = %v, want ErrUnsupported", name, err)
	}

	_, canDelete := store.(Deleter)
	err = top.(Deleter).Delete(ctx, "u1")
	switch {
	case canDelete && err != nil:
		t.Errorf("%s: Delete: %v", name, err)
	case canDelete:
		if got, err := top.Lookup(ctx, "u1"); err != nil || !got.Empty() {
			t.Errorf("%s: Lookup after Delete = %+v, %v", name, got.Assignments, err)
		}
	case !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), "not a Deleter"):
		t.Errorf("%s: Delete over a store without it = %v, want ErrUnsupported", name, err)
	}
}

func TestEveryLayerKeepsTheCapabilitiesOfTheStoreUnderIt(t *testing.T) {
	for _, w := range wrappers {
		for storeName, store := range capabilityStores(t) {
			t.Run(w.name+"/"+storeName, func(t *testing.T) {
				top := w.wrap(t, store)
				if top.Unwrap() != store {
					t.Fatalf("Unwrap = %v, want the store", top.Unwrap())
				}
				checkAs[ScopedLookuper](t, top, store)
				checkAs[AssignmentLookuper](t, top, store)
				checkAs[Deleter](t, top, store)
				checkAs[FirstWriter](t, top, store)
				checkAs[Replacer](t, top, store)
				checkCapabilities(t, top, store)
			})
		}
	}
}

func TestAsThroughAStackOfEveryLayer(t *testing.T) {
	for storeName, store := range capabilityStores(t) {
		t.Run(storeName, func(t *testing.T) {
			// Every layer over the one below, each order's top a layer.
			var top Service = store
			for _, w := range slices.Backward(wrappers) {
				top = w.wrap(t, top)
			}
			if got, want := describeStack(top), "Cache(AsyncSaver(Breaker(Observed(Traced("+typeName(store)+")))))"; got != want {
				t.Fatalf("stack %s, want %s", got, want)
			}
			checkAs[ScopedLookuper](t, top, store)
			checkAs[AssignmentLookuper](t, top, store)
			checkAs[Deleter](t, top, store)
			checkAs[FirstWriter](t, top, store)
			checkAs[Replacer](t, top, store)
			checkCapabilities(t, top, store)
		})
	}
}

func TestAsOnAStoreAndOnNothing(t *testing.T) {
	m, _ := NewMemory(MemoryOptions{})
	if d, ok := As[Deleter](m); !ok || d != Deleter(m) {
		t.Errorf("As[Deleter](Memory) = %v, %v", d, ok)
	}
	if _, ok := As[Deleter](lookupOnly{m}); ok {
		t.Error("As[Deleter] found a Deleter in a store without one")
	}
	if _, ok := As[Deleter](nil); ok {
		t.Error("As[Deleter](nil) = true")
	}
	if err := Close(context.Background(), nil); err != nil {
		t.Errorf("Close(nil) = %v", err)
	}
	if err := Close(context.Background(), lookupOnly{m}); err != nil {
		t.Errorf("Close of a store without Close = %v", err)
	}
}

// TestLayerListsEveryCapability parses the package: every exported
// interface it declares (Service and each optional capability) must be in
// Layer, which every layer is compiled against.
func TestLayerListsEveryCapability(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	interfaces := map[string]*ast.InterfaceType{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if ts, ok := n.(*ast.TypeSpec); ok && ts.Name.IsExported() {
				if it, ok := ts.Type.(*ast.InterfaceType); ok {
					interfaces[ts.Name.Name] = it
				}
			}
			return true
		})
	}
	layer := interfaces["Layer"]
	if layer == nil {
		t.Fatal("no Layer interface")
	}
	embedded := map[string]bool{}
	for _, f := range layer.Methods.List {
		if id, ok := f.Type.(*ast.Ident); ok && len(f.Names) == 0 {
			embedded[id.Name] = true
		}
	}
	// Contracts of their own beside profiles, which no layer wraps.
	notCapabilities := map[string]bool{
		"Overrides": true, // forced variations, a store apart from profiles (overrides.go)
	}
	for name := range interfaces {
		if name != "Layer" && !embedded[name] && !notCapabilities[name] {
			t.Errorf("interface %s is not in Layer: every layer must pass it on", name)
		}
	}
	if len(embedded) < 7 {
		t.Errorf("Layer embeds %d interfaces, want Service and the six capabilities", len(embedded))
	}
}

// TestCloseIsIdempotent: for every store and layer, a Close after the
// first does nothing and returns nil, and calls after it fail with
// ErrClosed.
func TestCloseIsIdempotent(t *testing.T) {
	ctx := context.Background()
	type closing interface {
		Service
		Closer
	}
	all := []struct {
		name  string
		build func(t *testing.T, store *Memory) closing
	}{
		{"Memory", func(_ *testing.T, store *Memory) closing { return store }},
	}
	for _, w := range wrappers {
		all = append(all, struct {
			name  string
			build func(t *testing.T, store *Memory) closing
		}{w.name, func(t *testing.T, store *Memory) closing { return w.wrap(t, store) }})
	}
	for _, c := range all {
		t.Run(c.name, func(t *testing.T) {
			store, _ := NewMemory(MemoryOptions{})
			s := c.build(t, store)
			if err := s.Save(ctx, oneAssignment("u1", "e", "v")); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := s.Close(ctx); err != nil {
					t.Fatalf("Close #%d = %v, want nil", i+1, err)
				}
			}
			if _, err := s.Lookup(ctx, "u1"); !errors.Is(err, ErrClosed) {
				t.Errorf("Lookup after Close = %v, want ErrClosed", err)
			}
			if err := s.Save(ctx, oneAssignment("u1", "e", "w")); !errors.Is(err, ErrClosed) {
				t.Errorf("Save after Close = %v, want ErrClosed", err)
			}
			if got := store.Profiles(); len(got) != 1 || variation(got[0], "e") != "v" {
				t.Errorf("the store holds %+v after Close, want the save made before it", got)
			}
		})
	}
}
