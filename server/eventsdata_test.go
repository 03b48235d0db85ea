package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/events"
	"github.com/stickybucket/stickybucket/ups"
)

// purchaseDatafile is examples/datafile-v1.json with a purchase event on
// experiment 3001, then as edit leaves it (nil: as is).
func purchaseDatafile(t testing.TB, edit func(df map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["events"] = []any{map[string]any{"id": "5001", "key": "purchase", "experimentIds": []any{"3001"}}}
	if edit != nil {
		edit(m)
	}
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return raw
}

// eventsCatalog serves raw as SDK key k1, deciding on a fresh in-memory
// store (returned) with its events' project.
func eventsCatalog(t testing.TB, raw []byte) (catalog, *ups.Memory) {
	t.Helper()
	proj, err := events.ParseProject(raw)
	if err != nil {
		t.Fatal(err)
	}
	store, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := testDatafile(t, "k1", raw, decision.Options{Profiles: store})
	d.Events = proj
	return catalog{"k1": d}, store
}

// startProcessor starts an events processor with opts (its log
// discarded), closed at the end of the test.
func startProcessor(t testing.TB, opts events.Options) *events.Processor {
	t.Helper()
	opts.Log = slog.New(slog.DiscardHandler)
	proc, err := events.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = proc.Close(ctx)
	})
	return proc
}
