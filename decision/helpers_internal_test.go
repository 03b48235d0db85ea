package decision

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

func loadDatafile(t testing.TB, name string) *Datafile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDatafile(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return d
}

func newTestClient(t testing.TB, name string, store ups.Service) *Client {
	t.Helper()
	c, err := NewClient(Options{Datafile: loadDatafile(t, name), Profiles: store})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fakeStore is a map-backed ups.Service that records calls and can fail.
type fakeStore struct {
	mu        sync.Mutex
	users     map[string]map[string]string // user → experiment ID → variation ID
	lookups   int
	saves     []ups.Profile // what each Save received
	lookupErr error
	saveErr   error
}

func newFakeStore() *fakeStore {
	return &fakeStore{users: map[string]map[string]string{}}
}

func (s *fakeStore) Lookup(_ context.Context, userID string) (ups.Profile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lookups++
	if s.lookupErr != nil {
		return ups.Profile{}, s.lookupErr
	}
	p := ups.NewProfile(userID)
	for exp, v := range s.users[userID] {
		p.Set(exp, v)
	}
	return p, nil
}

func (s *fakeStore) Save(_ context.Context, p ups.Profile) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saves = append(s.saves, p.Clone())
	if s.saveErr != nil {
		return s.saveErr
	}
	if s.users[p.UserID] == nil {
		s.users[p.UserID] = map[string]string{}
	}
	for exp, a := range p.Assignments {
		s.users[p.UserID][exp] = a.VariationID
	}
	return nil
}

func (s *fakeStore) set(userID, expID, variationID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[userID] == nil {
		s.users[userID] = map[string]string{}
	}
	s.users[userID][expID] = variationID
}

func (s *fakeStore) get(userID string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.users[userID])
}

// calls returns the number of lookups and saves so far.
func (s *fakeStore) calls() (lookups, saves int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups, len(s.saves)
}

// lastSave returns what the last Save carried as experiment → variation.
func (s *fakeStore) lastSave() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.saves) == 0 {
		return nil
	}
	out := map[string]string{}
	for exp, a := range s.saves[len(s.saves)-1].Assignments {
		out[exp] = a.VariationID
	}
	return out
}

// ctxStore fails as a real store does when the context is done.
type ctxStore struct{}

func (ctxStore) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	if err := ctx.Err(); err != nil {
		return ups.Profile{}, err
	}
	return ups.NewProfile(userID), nil
}

func (ctxStore) Save(ctx context.Context, _ ups.Profile) error { return ctx.Err() }

func readFixture(t testing.TB, name string) ([]byte, *Datafile) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDatafile(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b, d
}
