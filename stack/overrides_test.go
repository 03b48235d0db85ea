package stack

import (
	"context"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// TestOverridesFromConfig: off by default (decisions get no override
// store, so they pay nothing); server.overrides.enabled gives the memory
// store's counterpart with the configured TTL.
func TestOverridesFromConfig(t *testing.T) {
	ctx := context.Background()
	off, err := Open(ctx, parse(t, memoryEnv), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer off.Close(ctx)
	if off.Overrides != nil || off.DecisionOptions(loadDatafile(t)).Overrides != nil {
		t.Fatalf("overrides on by default: %T", off.Overrides)
	}

	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	on, err := Open(ctx, parse(t, memoryEnv+`
server:
  overrides:
    enabled: true
    ttl: 2m
`), Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer on.Close(ctx)
	o := on.DecisionOptions(loadDatafile(t)).Overrides
	if o == nil || o != on.Overrides {
		t.Fatalf("decision options carry %T, the stack %T", o, on.Overrides)
	}
	k := ups.OverrideKey{UserID: "u", ExperimentKey: "e"}
	if _, _, err := o.SetOverride(ctx, k, "v"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2*time.Minute - time.Second)
	if m, _ := o.UserOverrides(ctx, "", "u"); m["e"] != "v" {
		t.Fatalf("before the TTL: %v", m)
	}
	now = now.Add(time.Second)
	if m, _ := o.UserOverrides(ctx, "", "u"); m != nil {
		t.Fatalf("at the configured TTL: %v", m)
	}
}
