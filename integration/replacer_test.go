package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/ups"
)

// TestSaveReplacing: a row is replaced only while it holds the assignment
// the caller read (variation and decided_at); a row that holds another
// wins and comes back; where the caller read none, or the row is gone
// since, the write goes ahead; a replacement renews the TTL and keeps the
// decided_at given.
func TestSaveReplacing(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, env(t, keyspace(t, "replacing"), time.Hour, nil))
	const user = "user-replacing"
	decided := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	stored := ups.NewProfile(user)
	for _, e := range []string{"kept", "theirs", "reset", "gone"} {
		stored.Assignments[e] = ups.Assignment{VariationID: "a", DecidedAt: decided}
	}
	if err := s.Save(ctx, stored); err != nil {
		t.Fatal(err)
	}
	read, err := s.Lookup(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	// Behind the caller's back: another writer replaces "theirs", a reset
	// re-decides "reset" into the same variation, "gone" is deleted.
	theirs := ups.NewProfile(user)
	theirs.Assignments["theirs"] = ups.Assignment{VariationID: "t", DecidedAt: decided.Add(time.Hour)}
	theirs.Assignments["reset"] = ups.Assignment{VariationID: "a", DecidedAt: decided.Add(time.Hour)}
	if err := s.Save(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	if err := admin.Query("DELETE FROM "+s.Keyspace()+".assignments WHERE user_id = ? AND experiment_id = ?", user, "gone").Exec(); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, oneAssignment(user, "unread", "u")); err != nil { // the caller read none
		t.Fatal(err)
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	mine := ups.NewProfile(user)
	for _, e := range []string{"kept", "theirs", "reset", "gone", "new", "unread"} {
		mine.Assignments[e] = ups.Assignment{VariationID: "b", DecidedAt: now}
	}
	won, err := s.SaveReplacing(ctx, mine, read.Assignments)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ups.Assignment{
		"theirs": theirs.Assignments["theirs"],
		"reset":  theirs.Assignments["reset"],
		"unread": {VariationID: "u"},
	}
	if len(won.Assignments) != len(want) {
		t.Errorf("won %+v, want %v", won.Assignments, want)
	}
	for e, w := range want {
		got := won.Assignments[e]
		if got.VariationID != w.VariationID || !w.DecidedAt.IsZero() && !got.DecidedAt.Equal(w.DecidedAt) {
			t.Errorf("winner of %s = %+v, want %+v", e, got, w)
		}
	}
	after, err := s.Lookup(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"kept", "gone", "new"} {
		a := after.Assignments[e]
		if a.VariationID != "b" || !a.DecidedAt.Equal(now) || time.Until(a.ExpiresAt) < 59*time.Minute {
			t.Errorf("%s = %+v after SaveReplacing, want b decided at %v expiring in an hour", e, a, now)
		}
	}
	for e, w := range want {
		if v, _ := after.Variation(e); v != w.VariationID {
			t.Errorf("%s = %q after losing, want %q", e, v, w.VariationID)
		}
	}
}

// TestSaveReplacingRenewsTheRow: a replacement with a shorter TTL than the
// row's first write leaves nothing behind when it expires (its batch
// rewrites the row, not only its values: an UPDATE alone would leave a
// row of nulls alive until the first write's TTL).
func TestSaveReplacingRenewsTheRow(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "replacingttl")
	long := newStore(t, env(t, ks, time.Hour, nil))
	short := newStore(t, env(t, ks, 2*time.Second, nil))
	const user = "user-replacing-ttl"
	if err := long.Save(ctx, oneAssignment(user, "1001", "a")); err != nil {
		t.Fatal(err)
	}
	read, ok, err := long.LookupAssignment(ctx, user, "1001")
	if err != nil || !ok {
		t.Fatalf("LookupAssignment = %v, %v", ok, err)
	}
	won, err := short.SaveReplacing(ctx, oneAssignment(user, "1001", "b"), map[string]ups.Assignment{"1001": read})
	if err != nil || !won.Empty() {
		t.Fatalf("SaveReplacing = %+v, %v", won.Assignments, err)
	}
	// Cassandra expires cells by the second; poll rather than sleep exactly.
	for deadline := time.Now().Add(15 * time.Second); rowCount(t, ks, user) != 0; time.Sleep(500 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the row replaced with a 2s TTL is still there 15s later: %d rows", rowCount(t, ks, user))
		}
	}
	// And the experiment is free again for a first write.
	if won, err := long.SaveFirst(ctx, oneAssignment(user, "1001", "c")); err != nil || !won.Empty() {
		t.Fatalf("SaveFirst after the replacement expired = %+v, %v", won.Assignments, err)
	}
}

// readBarrier is a store whose reads return only once every contender of
// a race has read: each then writes on what it read before any of them
// wrote, the interleaving in which plain upserts disagree.
type readBarrier struct {
	*cassandra.Store
	read *sync.WaitGroup
}

func (b readBarrier) LookupAssignment(ctx context.Context, userID, experimentID string) (ups.Assignment, bool, error) {
	a, ok, err := b.Store.LookupAssignment(ctx, userID, experimentID)
	b.read.Done()
	b.read.Wait()
	return a, ok, err
}

// TestSaveReplacingRace: two stores on separate sessions read one user's
// assignment, then both write at once — replacements with different
// variations, or a replacement and a refresh of what was read. One write
// wins; the other learns the winner. With plain upserts the last writer
// wins, and a refresh writes back the variation just replaced.
func TestSaveReplacingRace(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "replacingrace")
	stores := [2]*cassandra.Store{newStore(t, env(t, ks, time.Hour, nil)), newStore(t, env(t, ks, time.Hour, nil))}
	// race has both stores read the user's assignment in 1001 and then
	// write write[i] on what they read; it returns what each serves: its
	// own variation or the winner's.
	race := func(user string, write [2]func(read ups.Assignment) ups.Assignment) [2]string {
		var (
			read   sync.WaitGroup
			wg     sync.WaitGroup
			served [2]string
		)
		read.Add(2)
		for i, s := range stores {
			wg.Go(func() {
				a, ok, err := readBarrier{s, &read}.LookupAssignment(ctx, user, "1001")
				if err != nil || !ok {
					t.Errorf("%s: store %d read %v, %v", user, i, ok, err)
					return
				}
				mine := write[i](a)
				p := ups.Profile{UserID: user, Assignments: map[string]ups.Assignment{"1001": mine}}
				won, err := s.SaveReplacing(ctx, p, map[string]ups.Assignment{"1001": a})
				if err != nil {
					t.Errorf("%s: store %d: %v", user, i, err)
					return
				}
				served[i] = mine.VariationID
				if w, ok := won.Variation("1001"); ok {
					served[i] = w
				}
			})
		}
		wg.Wait()
		return served
	}
	replaceWith := func(v string) func(ups.Assignment) ups.Assignment {
		return func(ups.Assignment) ups.Assignment { return ups.Assignment{VariationID: v, DecidedAt: time.Now()} }
	}
	refresh := func(a ups.Assignment) ups.Assignment {
		return ups.Assignment{VariationID: a.VariationID, DecidedAt: a.DecidedAt}
	}

	const rounds = 10
	for i := range rounds {
		for _, tc := range []struct {
			name  string
			write [2]func(ups.Assignment) ups.Assignment
			// stored is what must be stored after the race, "" for
			// either served variation.
			stored string
		}{
			{"replace", [2]func(ups.Assignment) ups.Assignment{replaceWith("b"), replaceWith("c")}, ""},
			{"refresh", [2]func(ups.Assignment) ups.Assignment{replaceWith("b"), refresh}, "b"},
			{"reset-same", [2]func(ups.Assignment) ups.Assignment{replaceWith("a"), replaceWith("c")}, ""},
		} {
			user := fmt.Sprintf("user-race-%s-%02d", tc.name, i)
			if err := stores[0].Save(ctx, oneAssignment(user, "1001", "a")); err != nil {
				t.Fatal(err)
			}
			served := race(user, tc.write)
			got, ok, err := stores[0].LookupAssignment(ctx, user, "1001")
			if err != nil || !ok {
				t.Fatalf("%s: LookupAssignment = %v, %v", user, ok, err)
			}
			switch {
			case tc.stored != "" && got.VariationID != tc.stored:
				t.Errorf("%s: %s is stored, want %s (served %v)", user, got.VariationID, tc.stored, served)
			case tc.stored == "" && (served[0] != served[1] || served[0] != got.VariationID):
				t.Errorf("%s: the stores served %v, %s is stored", user, served, got.VariationID)
			}
		}
	}
}
