package multidc

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// TestSaveInOneDCIsReadInTheOther: a save acknowledged at LOCAL_QUORUM by
// dc1 reaches dc2's single replica, where a store local to dc2 reads it at
// LOCAL_ONE; and a save made in dc2 at LOCAL_ONE reaches dc1.
func TestSaveInOneDCIsReadInTheOther(t *testing.T) {
	ks := keyspace(t, "xdc")
	inDC1 := storeIn(t, ks, dc1, "LOCAL_QUORUM", "LOCAL_QUORUM")
	inDC2 := storeIn(t, ks, dc2, "LOCAL_ONE", "LOCAL_ONE")
	ctx := context.Background()

	for _, tc := range []struct {
		name     string
		from, to ups.Service
	}{
		{"dc1 to dc2", inDC1, inDC2},
		{"dc2 to dc1", inDC2, inDC1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user := "user-" + tc.name[:3]
			p := ups.NewProfile(user)
			p.Set("3001", "4002")
			p.Set("3002", "4003")
			if err := tc.from.Save(ctx, p); err != nil {
				t.Fatal(err)
			}
			var got ups.Profile
			took, err := eventually(30*time.Second, func() error {
				var err error
				if got, err = tc.to.Lookup(ctx, user); err != nil {
					return err
				}
				if len(got.Assignments) != 2 {
					return fmt.Errorf("%d of 2 assignments visible", len(got.Assignments))
				}
				return nil
			})
			if err != nil {
				t.Fatalf("save not readable in the other DC after %s: %v", took.Round(time.Millisecond), err)
			}
			t.Logf("readable in the other DC after %s", took.Round(time.Millisecond))
			for exp, want := range map[string]string{"3001": "4002", "3002": "4003"} {
				a := got.Assignments[exp]
				if a.VariationID != want {
					t.Errorf("experiment %s: variation %q, want %q", exp, a.VariationID, want)
				}
				if left := time.Until(a.ExpiresAt); left < 55*time.Minute || left > time.Hour {
					t.Errorf("experiment %s: expires in %v, want about an hour (the TTL travels with the row)", exp, left)
				}
			}
		})
	}
}
