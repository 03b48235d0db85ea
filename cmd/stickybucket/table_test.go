package main

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

func TestProfileTable(t *testing.T) {
	ctx := context.Background()
	tab := newProfileTable()
	got, err := tab.Lookup(ctx, "nobody")
	if err != nil || got.UserID != "nobody" || !got.Empty() {
		t.Fatalf("Lookup(unknown) = %+v, %v; want an empty profile", got, err)
	}
	a := ups.NewProfile("a")
	a.Set("e1", "v1")
	a.Set("e2", "v2")
	if err := tab.Save(ctx, a); err != nil {
		t.Fatal(err)
	}
	// An upsert: e1 changes, e3 is added, e2 is left alone.
	b := ups.NewProfile("a")
	b.Set("e1", "v9")
	b.Set("e3", "v3")
	if err := tab.Save(ctx, b); err != nil {
		t.Fatal(err)
	}
	want := ups.NewProfile("a")
	want.Set("e1", "v9")
	want.Set("e2", "v2")
	want.Set("e3", "v3")
	if got, _ := tab.Lookup(ctx, "a"); !reflect.DeepEqual(got, want) {
		t.Errorf("Lookup after upserts = %+v, want %+v", got, want)
	}
	// Returned profiles are the caller's.
	got, _ = tab.Lookup(ctx, "a")
	got.Set("e1", "mine")
	if again, _ := tab.Lookup(ctx, "a"); again.Assignments["e1"].VariationID != "v9" {
		t.Error("changing a returned profile changed the table")
	}
	scoped, err := tab.LookupExperiments(ctx, "a", []string{"e3", "e4"})
	if err != nil || len(scoped.Assignments) != 1 || scoped.Assignments["e3"].VariationID != "v3" {
		t.Errorf("LookupExperiments(e3, e4) = %+v, %v", scoped, err)
	}
	if none, _ := tab.LookupExperiments(ctx, "a", nil); !none.Empty() {
		t.Errorf("LookupExperiments(nil) = %+v, want nothing", none)
	}

	// Invalid profiles write nothing.
	bad := ups.NewProfile("a")
	bad.Set("e1", "ok")
	bad.Set("e5", "")
	if err := tab.Save(ctx, bad); !errors.Is(err, ups.ErrInvalidProfile) {
		t.Errorf("Save(invalid) = %v, want ErrInvalidProfile", err)
	}
	if got, _ := tab.Lookup(ctx, "a"); !reflect.DeepEqual(got, want) {
		t.Errorf("an invalid save changed the profile: %+v", got)
	}
	if _, err := tab.Lookup(ctx, strings.Repeat("x", ups.MaxUserIDBytes+1)); !errors.Is(err, ups.ErrInvalidProfile) {
		t.Errorf("Lookup(oversized ID) = %v, want ErrInvalidProfile", err)
	}
	// An empty profile adds no user.
	if err := tab.Save(ctx, ups.NewProfile("empty")); err != nil || tab.Len() != 1 {
		t.Errorf("Save(empty) = %v, %d users", err, tab.Len())
	}

	c := ups.NewProfile("0first")
	c.Set("e1", "v1")
	tab.Save(ctx, c)
	var ids []string
	for p := range tab.All() {
		ids = append(ids, p.UserID)
	}
	if !slices.Equal(ids, []string{"0first", "a"}) {
		t.Errorf("All yields %v, want users in ID order", ids)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := tab.Lookup(cancelled, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("Lookup(cancelled) = %v", err)
	}
	if err := tab.Save(cancelled, c); !errors.Is(err, context.Canceled) {
		t.Errorf("Save(cancelled) = %v", err)
	}
}
