package main

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

// readProfilesFile loads the file at path into a list, failing the test on
// error.
func readProfilesFile(t testing.TB, path string) []ups.Profile {
	t.Helper()
	var got []ups.Profile
	if err := loadProfiles(context.Background(), path, func(p ups.Profile) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestProfilesFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "profiles.json")
	if got := readProfilesFile(t, path); got != nil {
		t.Fatalf("loadProfiles(missing) = %v; want nothing and no error", got)
	}
	a, b := ups.NewProfile("<b>&\u2028é"), ups.NewProfile("u1")
	a.Set("1", "2")
	b.Set("1", "3")
	b.Set("<x>", "é")
	if err := saveProfiles(path, slices.Values([]ups.Profile{a, b})); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	want := "[\n" +
		`{"user_id":"<b>&\u2028é","experiment_bucket_map":{"1":{"variation_id":"2"}}},` + "\n" +
		`{"user_id":"u1","experiment_bucket_map":{"1":{"variation_id":"3"},"<x>":{"variation_id":"é"}}}` + "\n" +
		"]\n"
	if string(data) != want {
		t.Errorf("file holds\n%s\nwant\n%s", data, want)
	}
	if got := readProfilesFile(t, path); !reflect.DeepEqual(got, []ups.Profile{a, b}) {
		t.Fatalf("round trip = %+v, want %+v", got, []ups.Profile{a, b})
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files after an atomic save, want 1 (no temp file left)", len(entries))
	}
	if err := saveProfiles(path, slices.Values([]ups.Profile(nil))); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "[]\n" {
		t.Fatalf("empty save wrote %q, want []", data)
	}
	if got := readProfilesFile(t, path); len(got) != 0 {
		t.Fatalf("[] loaded as %v", got)
	}
}

func TestLoadProfilesErrors(t *testing.T) {
	tests := []struct{ content, want string }{
		{`null`, "want a JSON array of profiles, got null"},
		{`{"user_id": "u"}`, "want a JSON array of profiles, got an object"},
		{`"[]"`, "want a JSON array of profiles, got a string"},
		{`7`, "want a JSON array of profiles, got a number"},
		{``, "empty; want a JSON array"},
		{"  \n", "empty; want a JSON array"},
		{`[`, "want a JSON array of profiles"},
		{`[] []`, "data after the array (byte"},
		{`[null]`, "element 0 (byte 1): invalid profile: profile must be a JSON object, got null"},
		{`[{"user_id": "u", "experiment_bucket_map": {}}, {"user_id": "v"}]`, `element 1 (byte 48): invalid profile: user "v": missing required field "experiment_bucket_map"`},
		{`[{"user_id": "u", "experiment_bucket_map": {}} {}]`, `element 1`},
		{`[{"user_id": "` + strings.Repeat("x", ups.MaxUserIDBytes+1) + `", "experiment_bucket_map": {}}]`, "user_id is 513 bytes"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "p.json")
		os.WriteFile(path, []byte(tt.content), 0o644)
		err := loadProfiles(context.Background(), path, func(ups.Profile) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("loadProfiles(%.80s) = %v, want an error naming the file and containing %q", tt.content, err, tt.want)
		}
	}
}

func TestLoadProfilesStopsWhenCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(path, []byte(`[{"user_id": "a", "experiment_bucket_map": {}}, {"user_id": "b", "experiment_bucket_map": {}}]`), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	var seen []string
	err := loadProfiles(ctx, path, func(p ups.Profile) error { seen = append(seen, p.UserID); cancel(); return nil })
	if !errors.Is(err, context.Canceled) || len(seen) != 1 {
		t.Fatalf("loadProfiles cancelled after the first profile = %v, read %v; want context.Canceled after one", err, seen)
	}
}

func TestSaveProfilesFailsWithoutDirectory(t *testing.T) {
	if err := saveProfiles(filepath.Join(t.TempDir(), "missing", "p.json"), slices.Values([]ups.Profile(nil))); err == nil {
		t.Fatal("saveProfiles into a missing directory succeeded")
	}
}

// withNamedTemp runs f with unnamed temporary files unavailable, as on a
// file system without O_TMPFILE, so the named fallback is exercised.
func withNamedTemp(t *testing.T, f func(t *testing.T)) {
	t.Run("unnamed", f)
	t.Run("named", func(t *testing.T) {
		old := openUnnamedFile
		openUnnamedFile = func(string, fs.FileMode) (*os.File, error) { return nil, errors.New("disabled by the test") }
		defer func() { openUnnamedFile = old }()
		f(t)
	})
	t.Run("link fails", func(t *testing.T) {
		old := linkUnnamedFile
		linkUnnamedFile = func(*os.File, string) error { return errors.New("disabled by the test") }
		defer func() { linkUnnamedFile = old }()
		f(t)
	})
}

func onlyFile(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 1 {
		t.Errorf("directory holds %v, want only the profiles file", names)
	}
}

func TestReplaceFileKeepsMode(t *testing.T) {
	withNamedTemp(t, func(t *testing.T) {
		dir := t.TempDir()
		for _, mode := range []fs.FileMode{0o644, 0o640, 0o600, 0o664} {
			path := filepath.Join(dir, "p.json")
			os.WriteFile(path, []byte("[]"), 0o600)
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			if err := saveProfiles(path, slices.Values([]ups.Profile{profile("u", "1", "2")})); err != nil {
				t.Fatal(err)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != mode {
				t.Errorf("mode %v became %v", mode, info.Mode().Perm())
			}
			onlyFile(t, dir)
		}
	})
}

func TestReplaceFileNewFileHonoursUmask(t *testing.T) {
	withNamedTemp(t, func(t *testing.T) {
		old := syscall.Umask(0o027)
		defer syscall.Umask(old)
		path := filepath.Join(t.TempDir(), "p.json")
		if err := saveProfiles(path, slices.Values([]ups.Profile(nil))); err != nil {
			t.Fatal(err)
		}
		info, _ := os.Stat(path)
		if info.Mode().Perm() != 0o640 {
			t.Errorf("new file has mode %v, want 0666 less the umask 027: 0640", info.Mode().Perm())
		}
	})
}

func TestReplaceFileKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	withNamedTemp(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "p.json")
		os.WriteFile(path, []byte("[]"), 0o644)
		if err := os.Chown(path, 12345, 23456); err != nil {
			t.Fatal(err)
		}
		if err := saveProfiles(path, slices.Values([]ups.Profile(nil))); err != nil {
			t.Fatal(err)
		}
		info, _ := os.Stat(path)
		st := info.Sys().(*syscall.Stat_t)
		if st.Uid != 12345 || st.Gid != 23456 {
			t.Errorf("owner became %d:%d, want 12345:23456", st.Uid, st.Gid)
		}
	})
}

func TestReplaceFileFollowsSymlinks(t *testing.T) {
	withNamedTemp(t, func(t *testing.T) {
		root := t.TempDir()
		data := filepath.Join(root, "data")
		links := filepath.Join(root, "links")
		os.Mkdir(data, 0o755)
		os.Mkdir(links, 0o755)
		target := filepath.Join(data, "profiles.json")
		os.WriteFile(target, []byte("[]"), 0o644)
		// links/current -> links/hop -> ../data/profiles.json
		if err := os.Symlink("../data/profiles.json", filepath.Join(links, "hop")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("hop", filepath.Join(links, "current")); err != nil {
			t.Fatal(err)
		}
		if err := saveProfiles(filepath.Join(links, "current"), slices.Values([]ups.Profile{profile("u", "1", "2")})); err != nil {
			t.Fatal(err)
		}
		for _, l := range []string{"hop", "current"} {
			if info, err := os.Lstat(filepath.Join(links, l)); err != nil || info.Mode()&fs.ModeSymlink == 0 {
				t.Errorf("links/%s is no longer a symbolic link: %v", l, err)
			}
		}
		if got := readProfilesFile(t, target); len(got) != 1 {
			t.Errorf("the link's target holds %v, want the saved profile", got)
		}
		onlyFile(t, data)

		// A dangling link: its target is created.
		dangling := filepath.Join(links, "new")
		os.Symlink("../data/new.json", dangling)
		if err := saveProfiles(dangling, slices.Values([]ups.Profile{profile("u", "1", "2")})); err != nil {
			t.Fatal(err)
		}
		if got := readProfilesFile(t, filepath.Join(data, "new.json")); len(got) != 1 {
			t.Errorf("the dangling link's target holds %v", got)
		}

		loop := filepath.Join(links, "loop")
		os.Symlink("loop", loop)
		if err := saveProfiles(loop, slices.Values([]ups.Profile(nil))); err == nil || !strings.Contains(err.Error(), "too many levels") {
			t.Errorf("saving through a symlink loop: %v", err)
		}
	})
}

// TestReplaceFileErrorLeavesNothing: a failing write (a full disk, an
// encoding error) leaves the old file as it was and no temporary file.
func TestReplaceFileErrorLeavesNothing(t *testing.T) {
	withNamedTemp(t, func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "p.json")
		os.WriteFile(path, []byte("[]\n"), 0o644)
		boom := errors.New("disk full")
		err := replaceFile(path, func(w io.Writer) error {
			w.Write([]byte(strings.Repeat("x", 1<<20)))
			return boom
		})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
			t.Errorf("replaceFile = %v, want the write's error naming the file", err)
		}
		if data, _ := os.ReadFile(path); string(data) != "[]\n" {
			t.Errorf("the old file was changed: %q", data)
		}
		onlyFile(t, dir)
	})
}

func TestReplaceFileRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	if err := saveProfiles(dir, slices.Values([]ups.Profile(nil))); err == nil || !strings.Contains(err.Error(), "is a directory; give a file's path") || strings.Contains(err.Error(), "d---") {
		t.Errorf("replacing a directory: %v", err)
	}
}

func profile(userID, expID, varID string) ups.Profile {
	p := ups.NewProfile(userID)
	p.Set(expID, varID)
	return p
}
