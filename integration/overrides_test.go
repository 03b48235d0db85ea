package integration

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/integration/serveproc"
)

// TestServeOverridesSharedThroughCassandra: two serve processes on one
// Cassandra with overrides on and a 4 s TTL. An override set on the first
// is honoured by the second at once (and reported there as the previous
// one), a removal on one is seen by the other, the sticky assignment
// stays in the assignments table throughout, and an override left alone
// expires after its TTL on both.
func TestServeOverridesSharedThroughCassandra(t *testing.T) {
	bin := serveproc.Build(t)
	ks := keyspace(t, "serve_overrides")
	cfg := serveConfig(t, ks, `store: {kind: cassandra, budget: 2s, saves: {mode: sync}, cache: {size: 0}}
server: {overrides: {enabled: true, ttl: 4s}}`)
	a := startServe(t, bin, "--config", cfg, "--migrate", "--datafile", "k="+datafileCopy(t, "datafile-v1.json"))
	b := startServe(t, bin, "--config", cfg, "--datafile", "k="+datafileCopy(t, "datafile-v1.json"))

	const user = "override-user"
	sticky := a.activate(t, user)
	other := map[string]string{"control": "green", "green": "control"}[sticky]
	saved := rowsOf(t, ks, user)
	if other == "" || len(saved) != 1 {
		t.Fatalf("first activation: %q, rows %v", sticky, saved)
	}
	override := func(p *serveProcess, variation string) (prev string) {
		t.Helper()
		var o struct{ PrevVariationKey string }
		body := fmt.Sprintf(`{"userId":%q,"experimentKey":"checkout_button","variationKey":%q}`, user, variation)
		if err := json.Unmarshal(p.post(t, "/v1/override", body), &o); err != nil {
			t.Fatal(err)
		}
		return o.PrevVariationKey
	}

	if prev := override(a, other); prev != "" {
		t.Fatalf("first override: previous %q", prev)
	}
	if got := b.activate(t, user); got != other {
		t.Fatalf("the other server serves %q, want the override %q", got, other)
	}
	if got := rowsOf(t, ks, user); fmt.Sprint(got) != fmt.Sprint(saved) {
		t.Fatalf("the override changed the assignments: %v, was %v", got, saved)
	}
	if prev := override(b, other); prev != other {
		t.Fatalf("set again on the other server: previous %q, want %q", prev, other)
	}
	if prev := override(a, ""); prev != other {
		t.Fatalf("removal: previous %q, want %q", prev, other)
	}
	if got := b.activate(t, user); got != sticky {
		t.Fatalf("after removal on the first server the second serves %q, want the sticky %q", got, sticky)
	}

	set := time.Now()
	override(b, other)
	if got := a.activate(t, user); got != other {
		t.Fatalf("override set on the second: the first serves %q", got)
	}
	waitFor(t, 30*time.Second, "the override expired on both servers", func() bool {
		return a.activate(t, user) == sticky && b.activate(t, user) == sticky
	})
	if took := time.Since(set); took < 3*time.Second {
		t.Fatalf("the override ended after %s, before its 4 s TTL", took)
	}
	if got := rowsOf(t, ks, user); fmt.Sprint(got) != fmt.Sprint(saved) {
		t.Fatalf("assignments after the override: %v, was %v", got, saved)
	}
	a.Stop(t, 30*time.Second)
	b.Stop(t, 30*time.Second)
}
