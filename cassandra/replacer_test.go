package cassandra

import (
	"slices"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// TestReplacementSettle: what SaveReplacing makes of the rows a refused
// or timed-out transaction found.
func TestReplacementSettle(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a := func(v string, d time.Duration) ups.Assignment {
		return ups.Assignment{VariationID: v, DecidedAt: at.Add(d)}
	}
	r := replacement{
		written: map[string]ups.Assignment{
			"held": a("new", time.Hour), "gone": a("new", time.Hour), "free": a("new", time.Hour),
			"ours": a("new", time.Hour), "theirs": a("new", time.Hour), "refresh": a("old", 0),
			"taken": a("new", time.Hour),
		},
		expect: map[string]ups.Assignment{
			"held": a("old", 0), "gone": a("old", 0), "ours": a("old", 0), "theirs": a("old", 0),
			"refresh": a("old", 0),
		},
	}
	rows := map[string]ups.Assignment{
		"held":    a("old", 500*time.Microsecond), // the same millisecond
		"ours":    a("new", time.Hour),
		"theirs":  a("old", time.Second), // re-decided into the same variation
		"refresh": a("old", 0),
		"taken":   a("other", 0),
	}
	won := map[string]ups.Assignment{}
	todo, changed := r.settle([]string{"free", "gone", "held", "ours", "refresh", "taken", "theirs"}, rows, won)
	if !changed || !slices.Equal(todo, []string{"free", "gone", "held", "refresh"}) {
		t.Errorf("left %v (changed %v), want free, gone, held and refresh to try again", todo, changed)
	}
	if _, ok := r.expect["gone"]; ok {
		t.Error("a row gone since it was read is still expected")
	}
	if len(won) != 2 || won["theirs"] != rows["theirs"] || won["taken"] != rows["taken"] {
		t.Errorf("won %v, want theirs and taken", won)
	}
	// Nothing to learn from the same rows again: no change, so the caller
	// stops rather than loop.
	todo, changed = r.settle(todo, rows, won)
	if changed || len(todo) != 4 {
		t.Errorf("settling again: left %v, changed %v; want no change", todo, changed)
	}
}
