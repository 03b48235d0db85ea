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
	store, err := ups.NewMemory(ups.MemoryOptions{
		Retention: ups.Retention{Default: 30 * 24 * time.Hour},
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

	p, _ := store.Lookup(ctx, "user-42")
	out, _ := json.Marshal(p)
	fmt.Println(string(out))

	var bad ups.Profile
	err = json.Unmarshal([]byte(`{"user_id": "u", "experiment_bucket_map": {"1001": {"variation_id": 7}}}`), &bad)
	fmt.Println(err)
	// Output:
	// {"user_id":"user-42","experiment_bucket_map":{"1001":{"variation_id":"2001"},"1002":{"variation_id":"2004"}}}
	// invalid profile: user "u": experiment_bucket_map["1001"].variation_id: must be a string, got 7
}
