package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

func TestProfilesFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	if got, err := loadProfiles(path); err != nil || got != nil {
		t.Fatalf("loadProfiles(missing) = %v, %v; want nothing and no error", got, err)
	}
	p := ups.NewProfile("u1")
	p.Set("1", "2")
	if err := saveProfiles(path, []ups.Profile{p}); err != nil {
		t.Fatal(err)
	}
	got, err := loadProfiles(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []ups.Profile{p}) {
		t.Fatalf("round trip = %+v, want %+v", got, p)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files after an atomic save, want 1 (no temp file left)", len(entries))
	}
	if err := saveProfiles(path, nil); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); strings.TrimSpace(string(data)) != "[]" {
		t.Fatalf("empty save wrote %q, want []", data)
	}
}

func TestLoadProfilesErrors(t *testing.T) {
	tests := []struct{ content, want string }{
		{`{"user_id": "u"}`, "must be a JSON array"},
		{`[{"user_id": "u", "experiment_bucket_map": {}}, {"user_id": "v"}]`, `element 1: invalid profile: user "v": missing required field "experiment_bucket_map"`},
		{`[`, "must be a JSON array"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "p.json")
		os.WriteFile(path, []byte(tt.content), 0o644)
		_, err := loadProfiles(path)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("loadProfiles(%s) = %v, want an error naming the file and containing %q", tt.content, err, tt.want)
		}
	}
}

func TestSaveProfilesFailsWithoutDirectory(t *testing.T) {
	if err := saveProfiles(filepath.Join(t.TempDir(), "missing", "p.json"), nil); err == nil {
		t.Fatal("saveProfiles into a missing directory succeeded")
	}
}
