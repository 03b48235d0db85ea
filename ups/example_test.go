package ups_test

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

func Example() {
	ctx := context.Background()
	clock := func() time.Time { return time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC) }
	store, err := ups.NewMemory(ups.MemoryOptions{
		Retention: ups.Retention{Default: 30 * 24 * time.Hour},
		Now:       clock,
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Two decisions for one user, saved separately: neither overwrites the
	// other.
	first := ups.NewProfile("user-42")
	first.Set("1001", "2001")
	second := ups.NewProfile("user-42")
	second.Set("1002", "2004")
	for _, p := range []ups.Profile{first, second} {
		if err := store.Save(ctx, p); err != nil {
			fmt.Println(err)
			return
		}
	}

	// Optimizely's schema, each entry with when it was decided and when it
	// stops being sticky (keys Optimizely's readers ignore).
	p, _ := store.Lookup(ctx, "user-42")
	out, _ := json.Marshal(p)
	fmt.Println(string(out))

	var bad ups.Profile
	err = json.Unmarshal([]byte(`{"user_id": "u", "experiment_bucket_map": {"1001": {"variation_id": 7}}}`), &bad)
	fmt.Println(err)
	// Output:
	// {"user_id":"user-42","experiment_bucket_map":{"1001":{"variation_id":"2001","decided_at":"2026-12-01T09:30:00Z","expires_at":"2026-12-31T09:30:00Z"},"1002":{"variation_id":"2004","decided_at":"2026-12-01T09:30:00Z","expires_at":"2026-12-31T09:30:00Z"}}}
	// invalid profile: user "u": experiment_bucket_map["1001"].variation_id: must be a string, got 7
}

// The layers stack in front of a store: a cache for repeated lookups, an
// asynchronous saver to take writes off the request path, and a breaker
// that fails fast while the store is down. Each passes every capability
// through, and Close goes down the whole stack.
func Example_layers() {
	ctx := context.Background()
	retention := ups.Retention{Default: 90 * 24 * time.Hour}
	store, err := ups.NewMemory(ups.MemoryOptions{Retention: retention})
	if err != nil {
		fmt.Println(err)
		return
	}
	breaker, err := ups.NewBreaker(store, ups.BreakerOptions{Failures: 5, OpenFor: 5 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	saver, err := ups.NewAsyncSaver(breaker, ups.AsyncOptions{Retention: retention})
	if err != nil {
		fmt.Println(err)
		return
	}
	cache, err := ups.NewCache(saver, ups.CacheOptions{Size: 100_000, TTL: time.Minute, Retention: retention})
	if err != nil {
		fmt.Println(err)
		return
	}
	var svc ups.Service = cache

	p := ups.NewProfile("user-42")
	p.Set("1001", "2001")
	if err := svc.Save(ctx, p); err != nil {
		fmt.Println(err)
		return
	}
	// Seen at once, whether or not the store has it yet.
	a, ok, _ := cache.LookupAssignment(ctx, "user-42", "1001")
	fmt.Println(a.VariationID, ok)

	// Every layer has every capability; As says whether the store under
	// them has it too. Erasure is ordered with the saves still queued.
	if d, ok := ups.As[ups.Deleter](svc); ok {
		_ = d.Delete(ctx, "user-42")
	}
	after, _ := svc.Lookup(ctx, "user-42")
	fmt.Println(len(after.Assignments))

	// Close writes what is queued, then closes the layers below and the
	// store.
	if err := ups.Close(ctx, svc); err != nil {
		fmt.Println(err)
	}
	fmt.Println(len(store.Profiles()), breaker.Health().State)
	// Output:
	// 2001 true
	// 0
	// 0 closed
}
