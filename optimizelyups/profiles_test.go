package optimizelyups_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/optimizely/go-sdk/v2/pkg/client"
	"github.com/optimizely/go-sdk/v2/pkg/decide"
	"github.com/optimizely/go-sdk/v2/pkg/decision"
	"github.com/optimizely/go-sdk/v2/pkg/entities"

	"github.com/stickybucket/stickybucket/internal/officialsdk"
	"github.com/stickybucket/stickybucket/optimizelyups"
	"github.com/stickybucket/stickybucket/ups"
)

func readDatafile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decisions is what one client decided for each user: experiment or flag
// key → variation key.
type decisions map[string]map[string]string

var europe = map[string]any{"country": "de", "plan": "pro", "app_version": "3.1.0"}

// decideAll decides both experiments (GetVariation, which looks up and
// saves per experiment) and a flag backed by an experiment (Decide) for
// every user.
func decideAll(t testing.TB, c *client.OptimizelyClient, users []string) decisions {
	t.Helper()
	out := decisions{}
	for _, u := range users {
		got := map[string]string{}
		for _, exp := range []string{"checkout_button", "pricing_page"} {
			v, err := c.GetVariation(exp, entities.UserContext{ID: u, Attributes: europe})
			if err != nil {
				t.Fatalf("GetVariation(%s, %s): %v", exp, u, err)
			}
			got[exp] = v
		}
		uc := c.CreateUserContext(u, europe)
		d := uc.Decide("new_search", []decide.OptimizelyDecideOptions{decide.DisableDecisionEvent})
		got["new_search"] = d.VariationKey
		out[u] = got
	}
	return out
}

func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("user-%d", i)
	}
	return out
}

// errorLog collects what reaches Options.OnError.
type errorLog struct {
	mu     sync.Mutex
	events []errorEvent
}

type errorEvent struct {
	op, userID string
	err        error
}

func (l *errorLog) record(op, userID string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, errorEvent{op, userID, err})
}

func (l *errorLog) all() []errorEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

func newMemory(t testing.TB, now func() time.Time) *ups.Memory {
	t.Helper()
	m, err := ups.NewMemory(ups.MemoryOptions{Retention: ups.Retention{Default: 24 * time.Hour}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func newService(t testing.TB, store ups.Service, opts optimizelyups.Options) *optimizelyups.ProfileService {
	t.Helper()
	s, err := optimizelyups.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUsersStayStickyAcrossDatafileChange(t *testing.T) {
	v1, v2 := readDatafile(t, "datafile-v1.json"), readDatafile(t, "datafile-v2.json")
	everyone := users(300)
	var errs errorLog
	store := newMemory(t, nil)
	profiles := newService(t, store, optimizelyups.Options{OnError: errs.record})

	before := decideAll(t, officialsdk.Client(t, v1, profiles), everyone)
	after := decideAll(t, officialsdk.Client(t, v2, profiles), everyone)
	unsticky := decideAll(t, officialsdk.Client(t, v2, nil), everyone)

	moved := map[string]int{}
	for _, u := range everyone {
		for key, v := range before[u] {
			if v == "" {
				t.Fatalf("%s got no variation in %s: the test users must all be in every experiment", u, key)
			}
			if after[u][key] != v {
				t.Errorf("%s in %s: %q before the datafile change, %q after", u, key, v, after[u][key])
			}
			if unsticky[u][key] != v {
				moved[key]++
			}
		}
	}
	// Without the profile service the change re-buckets users, so the
	// comparison above is not vacuous.
	for _, key := range []string{"checkout_button", "new_search"} {
		if moved[key] == 0 {
			t.Errorf("no user moves in %s without sticky profiles: the datafile change does not exercise stickiness", key)
		}
	}
	t.Logf("users who would have moved without the profile service: %v", moved)

	// The store holds what the SDK decided: variation IDs, one per
	// experiment.
	stored := store.Profiles()
	if len(stored) != len(everyone) {
		t.Fatalf("store holds %d profiles, want %d", len(stored), len(everyone))
	}
	for _, p := range stored {
		if len(p.Assignments) != 3 {
			t.Errorf("%s: %d assignments stored, want 3 (one per experiment): %v", p.UserID, len(p.Assignments), p.Assignments)
		}
		if v, _ := p.Variation("3001"); v != map[string]string{"control": "4001", "green": "4002"}[before[p.UserID]["checkout_button"]] {
			t.Errorf("%s: stored variation %q for checkout_button, decided %q", p.UserID, v, before[p.UserID]["checkout_button"])
		}
	}
	if e := errs.all(); len(e) != 0 {
		t.Errorf("errors reported with a healthy store: %v", e)
	}
}

// failingStore fails every call as an unreachable store does.
type failingStore struct{}

var errDown = fmt.Errorf("%w: node down", ups.ErrUnavailable)

func (failingStore) Lookup(context.Context, string) (ups.Profile, error) {
	return ups.Profile{}, errDown
}
func (failingStore) Save(context.Context, ups.Profile) error { return errDown }

func TestStoreErrorsReachTheCallback(t *testing.T) {
	var errs errorLog
	profiles := newService(t, failingStore{}, optimizelyups.Options{OnError: errs.record})
	c := officialsdk.Client(t, readDatafile(t, "datafile-v1.json"), profiles)

	v, err := c.GetVariation("checkout_button", entities.UserContext{ID: "user-1"})
	if err != nil || v == "" {
		t.Fatalf("GetVariation with a failing store = %q, %v; want a fresh bucketing", v, err)
	}
	got := errs.all()
	var ops []string
	for _, e := range got {
		ops = append(ops, e.op)
		if e.userID != "user-1" {
			t.Errorf("%s error for user %q, want user-1", e.op, e.userID)
		}
		if !errors.Is(e.err, errDown) || !ups.Unavailable(e.err) {
			t.Errorf("%s error %v does not wrap the store's error", e.op, e.err)
		}
	}
	// After the failed lookup, the save reads the stored entries first so
	// as not to overwrite them; that read fails too, and nothing is written.
	if !slices.Equal(ops, []string{optimizelyups.OpLookup, optimizelyups.OpSave}) {
		t.Fatalf("reported operations %v, want [lookup save]", ops)
	}
}

// gatedStore blocks every call until its gate opens or the call's context
// ends, and records when each call came in and the deadline it was given.
type gatedStore struct {
	gate  chan struct{}
	calls chan gatedCall
}

type gatedCall struct{ entered, deadline time.Time }

func newGatedStore() *gatedStore {
	return &gatedStore{gate: make(chan struct{}), calls: make(chan gatedCall, 4)}
}

func (g *gatedStore) wait(ctx context.Context) error {
	d, _ := ctx.Deadline()
	g.calls <- gatedCall{entered: time.Now(), deadline: d}
	select {
	case <-g.gate:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// checkDeadline checks that a call made at start reached the store with a
// deadline of timeout from the adapter's call, no later.
func checkDeadline(t *testing.T, what string, c gatedCall, start time.Time, timeout time.Duration) {
	t.Helper()
	if c.deadline.IsZero() {
		t.Errorf("%s: the store got no deadline", what)
		return
	}
	if c.deadline.Before(start.Add(timeout)) || c.deadline.After(c.entered.Add(timeout)) {
		t.Errorf("%s: deadline %v after the call, want %v counted from the adapter's call", what, c.deadline.Sub(start), timeout)
	}
}

func (g *gatedStore) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	if err := g.wait(ctx); err != nil {
		return ups.Profile{}, err
	}
	p := ups.NewProfile(userID)
	p.Set("3001", "4002")
	return p, nil
}

func (g *gatedStore) Save(ctx context.Context, p ups.Profile) error { return g.wait(ctx) }

func TestTimeoutsAreHonoured(t *testing.T) {
	const lookupTimeout, saveTimeout = 20 * time.Millisecond, 30 * time.Millisecond
	store := newGatedStore() // never opened: only the deadline ends a call
	var errs errorLog
	profiles := newService(t, store, optimizelyups.Options{
		LookupTimeout: lookupTimeout, SaveTimeout: saveTimeout, OnError: errs.record,
	})

	start := time.Now()
	got := profiles.Lookup("user-1")
	if time.Since(start) < lookupTimeout {
		t.Errorf("Lookup returned after %v, before its timeout", time.Since(start))
	}
	if got.ID != "user-1" || len(got.ExperimentBucketMap) != 0 {
		t.Errorf("Lookup of a store that timed out = %+v, want an empty profile for user-1", got)
	}
	checkDeadline(t, "lookup", <-store.calls, start, lookupTimeout)

	start = time.Now()
	profiles.Save(decision.UserProfile{ID: "user-2", ExperimentBucketMap: map[decision.UserDecisionKey]string{
		decision.NewUserDecisionKey("3001"): "4001",
	}})
	// The read of the stored entries and the write share one deadline.
	checkDeadline(t, "save's read", <-store.calls, start, saveTimeout)
	checkDeadline(t, "save's write", <-store.calls, start, saveTimeout)

	e := errs.all()
	if len(e) != 2 || e[0].op != optimizelyups.OpLookup || e[1].op != optimizelyups.OpSave {
		t.Fatalf("reported %v, want one lookup and one save error", e)
	}
	for _, ev := range e {
		if !errors.Is(ev.err, context.DeadlineExceeded) || !ups.Unavailable(ev.err) {
			t.Errorf("%s error %v: want a deadline error that counts as unavailable", ev.op, ev.err)
		}
	}

	// With the gate open the same service answers from the store.
	close(store.gate)
	if got := profiles.Lookup("user-1"); got.ExperimentBucketMap[decision.NewUserDecisionKey("3001")] != "4002" {
		t.Errorf("Lookup after the gate opened = %+v, want 3001 → 4002", got)
	}
}

func TestSaveSkipsInvalidEntriesAndOtherFields(t *testing.T) {
	store := newMemory(t, nil)
	var errs errorLog
	profiles := newService(t, store, optimizelyups.Options{OnError: errs.record})
	profiles.Save(decision.UserProfile{ID: "user-1", ExperimentBucketMap: map[decision.UserDecisionKey]string{
		decision.NewUserDecisionKey("3001"):    "4001",
		decision.NewUserDecisionKey("3002"):    "",        // empty variation
		decision.NewUserDecisionKey(""):        "4005",    // empty experiment
		{ExperimentID: "3003", Field: "other"}: "ignored", // not a variation
	}})
	p, err := store.Lookup(context.Background(), "user-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Assignments) != 1 || p.Assignments["3001"].VariationID != "4001" {
		t.Errorf("stored %v, want only 3001 → 4001", p.Assignments)
	}
	e := errs.all()
	if len(e) != 2 {
		t.Fatalf("reported %d errors, want 2 (one per invalid entry): %v", len(e), e)
	}
	for _, ev := range e {
		if ev.op != optimizelyups.OpSave || ev.userID != "user-1" || !errors.Is(ev.err, ups.ErrInvalidProfile) {
			t.Errorf("reported %s %q %v, want an invalid-profile save error for user-1", ev.op, ev.userID, ev.err)
		}
	}
}

func TestInvalidUserIDIsReported(t *testing.T) {
	var errs errorLog
	profiles := newService(t, newMemory(t, nil), optimizelyups.Options{OnError: errs.record})
	if got := profiles.Lookup(""); len(got.ExperimentBucketMap) != 0 {
		t.Errorf("Lookup(\"\") = %+v, want an empty profile", got)
	}
	profiles.Save(decision.UserProfile{ExperimentBucketMap: map[decision.UserDecisionKey]string{decision.NewUserDecisionKey("1"): "2"}})
	e := errs.all()
	if len(e) != 2 || e[0].op != optimizelyups.OpLookup || e[1].op != optimizelyups.OpSave {
		t.Fatalf("reported %v, want a lookup and a save error", e)
	}
	for _, ev := range e {
		if !errors.Is(ev.err, ups.ErrInvalidProfile) {
			t.Errorf("%s error %v does not wrap ErrInvalidProfile", ev.op, ev.err)
		}
	}
}

// serviceOnly hides every optional capability of the store underneath.
type serviceOnly struct{ ups.Service }

func TestSaveWritesOnlyNewAndChangedEntries(t *testing.T) {
	for _, tc := range []struct {
		name    string
		wrap    func(ups.Service) ups.Service
		rewrite bool
	}{
		{name: "scoped lookup", wrap: func(s ups.Service) ups.Service { return s }},
		{name: "plain lookup", wrap: func(s ups.Service) ups.Service { return serviceOnly{s} }},
		{name: "rewrite unchanged", wrap: func(s ups.Service) ups.Service { return s }, rewrite: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			now := t0
			store := newMemory(t, func() time.Time { return now })
			var errs errorLog
			profiles := newService(t, tc.wrap(store), optimizelyups.Options{OnError: errs.record, RewriteUnchanged: tc.rewrite})
			key := decision.NewUserDecisionKey

			// What the SDK does: save one decision, later look the profile
			// up and save it back with another decision added, one changed.
			profiles.Save(decision.UserProfile{ID: "u", ExperimentBucketMap: map[decision.UserDecisionKey]string{key("1"): "a", key("2"): "b"}})
			now = t0.Add(time.Hour)
			p := profiles.Lookup("u")
			p.ExperimentBucketMap[key("2")] = "b2"
			p.ExperimentBucketMap[key("3")] = "c"
			profiles.Save(p)

			got, err := store.Lookup(context.Background(), "u")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]struct {
				variation string
				decided   time.Time
			}{
				"1": {"a", t0}, // unchanged: keeps its decision time and expiry
				"2": {"b2", now},
				"3": {"c", now},
			}
			if tc.rewrite {
				want["1"] = struct {
					variation string
					decided   time.Time
				}{"a", now}
			}
			for id, w := range want {
				a := got.Assignments[id]
				if a.VariationID != w.variation || !a.DecidedAt.Equal(w.decided) {
					t.Errorf("experiment %s: %q decided at %v, want %q decided at %v", id, a.VariationID, a.DecidedAt, w.variation, w.decided)
				}
				if wantExp := w.decided.Add(24 * time.Hour); !a.ExpiresAt.Equal(wantExp) {
					t.Errorf("experiment %s: expires at %v, want %v", id, a.ExpiresAt, wantExp)
				}
			}
			if e := errs.all(); len(e) != 0 {
				t.Errorf("errors reported: %v", e)
			}
		})
	}
}

func TestNewRejectsNilStore(t *testing.T) {
	if _, err := optimizelyups.New(nil, optimizelyups.Options{}); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}

// flakyStore fails the next failLookups reads (Lookup and scoped lookups
// alike), as a store does that misses a deadline now and then; saves go
// through.
type flakyStore struct {
	*ups.Memory
	failLookups atomic.Int32
}

var errSlow = fmt.Errorf("%w: read timed out", ups.ErrUnavailable)

func (f *flakyStore) fail() bool { return f.failLookups.Add(-1) >= 0 }

func (f *flakyStore) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	if f.fail() {
		return ups.Profile{}, errSlow
	}
	return f.Memory.Lookup(ctx, userID)
}

func (f *flakyStore) LookupExperiments(ctx context.Context, userID string, ids []string) (ups.Profile, error) {
	if f.fail() {
		return ups.Profile{}, errSlow
	}
	return f.Memory.LookupExperiments(ctx, userID, ids)
}

func seed(t *testing.T, m *ups.Memory, userID, expID, variationID string) {
	t.Helper()
	p := ups.NewProfile(userID)
	p.Set(expID, variationID)
	if err := m.Save(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func storedVariation(t *testing.T, m *ups.Memory, userID, expID string) string {
	t.Helper()
	p, err := m.Lookup(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := p.Variation(expID)
	return v
}

// alice hashes to control (4001) in checkout_button (3001) under
// datafile-v1; the tests store green (4002) for her, as an earlier
// allocation would have.
func TestAFailedLookupDoesNotOverwriteTheStoredVariation(t *testing.T) {
	store := &flakyStore{Memory: newMemory(t, nil)}
	seed(t, store.Memory, "alice", "3001", "4002")
	var errs errorLog
	c := officialsdk.Client(t, readDatafile(t, "datafile-v1.json"), newService(t, store, optimizelyups.Options{OnError: errs.record}))
	alice := entities.UserContext{ID: "alice"}

	store.failLookups.Store(1) // the decision's lookup times out once
	if v, _ := c.GetVariation("checkout_button", alice); v != "control" {
		t.Fatalf("with the lookup failed, alice got %q, want the fresh bucketing control", v)
	}
	if v := storedVariation(t, store.Memory, "alice", "3001"); v != "4002" {
		t.Fatalf("the save after a failed lookup replaced alice's stored green with %q", v)
	}
	if v, _ := c.GetVariation("checkout_button", alice); v != "green" {
		t.Errorf("once the store answers, alice got %q, want her stored green", v)
	}
	e := errs.all()
	if len(e) != 1 || e[0].op != optimizelyups.OpLookup || !errors.Is(e[0].err, errSlow) {
		t.Errorf("reported %v, want the one failed lookup", e)
	}

	// A user the store does not know is still saved after a failed lookup.
	store.failLookups.Store(1)
	if v, _ := c.GetVariation("checkout_button", entities.UserContext{ID: "bob"}); storedVariation(t, store.Memory, "bob", "3001") != map[string]string{"control": "4001", "green": "4002"}[v] {
		t.Errorf("bob got %q after a failed lookup but the store holds %q", v, storedVariation(t, store.Memory, "bob", "3001"))
	}

	// If the store cannot be read at save time either, nothing is written.
	store.failLookups.Store(2)
	c.GetVariation("checkout_button", entities.UserContext{ID: "carol"})
	if p, _ := store.Memory.Lookup(context.Background(), "carol"); !p.Empty() {
		t.Errorf("a save that could not check the stored assignments wrote %v", p.Assignments)
	}
	if e := errs.all(); len(e) != 4 || e[3].op != optimizelyups.OpSave || !errors.Is(e[3].err, errSlow) {
		t.Errorf("reported %v, want the unchecked save last", e)
	}
}

func TestAVariationGoneFromTheDatafileIsReplaced(t *testing.T) {
	store := newMemory(t, nil)
	seed(t, store, "alice", "3001", "4999") // a variation since deleted
	var errs errorLog
	c := officialsdk.Client(t, readDatafile(t, "datafile-v1.json"), newService(t, store, optimizelyups.Options{OnError: errs.record}))
	if v, _ := c.GetVariation("checkout_button", entities.UserContext{ID: "alice"}); v != "control" {
		t.Fatalf("alice got %q, want control: her stored variation no longer exists", v)
	}
	if v := storedVariation(t, store, "alice", "3001"); v != "4001" {
		t.Errorf("stored %q, want the new bucketing 4001 in place of the deleted variation", v)
	}
	if e := errs.all(); len(e) != 0 {
		t.Errorf("errors reported: %v", e)
	}
}
