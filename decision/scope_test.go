package decision

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

// scopedStore is a fakeStore that also offers ups.ScopedLookuper and records
// the scopes it was asked for.
type scopedStore struct {
	*fakeStore
	mu     sync.Mutex
	scopes [][]string
}

func (s *scopedStore) LookupExperiments(ctx context.Context, userID string, ids []string) (ups.Profile, error) {
	s.mu.Lock()
	s.scopes = append(s.scopes, slices.Clone(ids))
	s.mu.Unlock()
	full, err := s.fakeStore.Lookup(ctx, userID)
	if err != nil {
		return ups.Profile{}, err
	}
	p := ups.NewProfile(userID)
	for _, id := range ids {
		if v, ok := full.Variation(id); ok {
			p.Set(id, v)
		}
	}
	return p, nil
}

func TestScopedLookupReadsOnlyTheDecidedExperiments(t *testing.T) {
	ctx := context.Background()
	plain := newFakeStore()
	scoped := &scopedStore{fakeStore: newFakeStore()}
	for _, s := range []*fakeStore{plain, scoped.fakeStore} {
		s.set("u1", "1000", "1002") // a saved variation the scoped lookup must still serve
		s.set("u1", "unrelated", "x")
	}
	pc := newTestClient(t, "sticky.json", plain)
	sc := newTestClient(t, "sticky.json", scoped)

	pe, _ := pc.DecideExperiment(ctx, usUser, "exp_us")
	se, err := sc.DecideExperiment(ctx, usUser, "exp_us")
	if err != nil {
		t.Fatal(err)
	}
	if se.VariationID != "1002" || se.VariationID != pe.VariationID {
		t.Fatalf("scoped DecideExperiment = %+v, plain %+v; want the saved variation 1002 from both", se, pe)
	}
	if !slices.Equal(scoped.scopes[0], []string{"1000"}) {
		t.Fatalf("DecideExperiment asked for %v, want [1000]", scoped.scopes[0])
	}

	f := sc.df.flagByKey["flag_full"]
	pd, _ := pc.Decide(ctx, usUser, "flag_full")
	sd, err := sc.Decide(ctx, usUser, "flag_full")
	if err != nil {
		t.Fatal(err)
	}
	if sd.VariationKey != pd.VariationKey || sd.RuleKey != pd.RuleKey || sd.Enabled != pd.Enabled {
		t.Fatalf("scoped Decide = %+v, plain %+v", sd, pd)
	}
	if got := scoped.scopes[len(scoped.scopes)-1]; !slices.Equal(got, f.experimentIDs) {
		t.Fatalf("Decide asked for %v, want the flag's experiments %v", got, f.experimentIDs)
	}

	n := len(scoped.scopes)
	if _, err := sc.DecideForKeys(ctx, usUser, []string{"flag_full", "no_such_flag", "flag_rollout_only"}); err != nil {
		t.Fatal(err)
	}
	if len(scoped.scopes) != n+1 || !slices.Equal(scoped.scopes[n], f.experimentIDs) {
		t.Fatalf("DecideForKeys scopes %v, want one lookup of %v", scoped.scopes[n:], f.experimentIDs)
	}

	// DecideAll may touch every experiment: it reads the whole profile.
	n = len(scoped.scopes)
	if _, err := sc.DecideAll(ctx, usUser); err != nil {
		t.Fatal(err)
	}
	if len(scoped.scopes) != n {
		t.Fatalf("DecideAll used a scoped lookup; want the full Lookup")
	}
	if l, _ := scoped.calls(); l == 0 {
		t.Fatal("no lookups recorded")
	}
}
