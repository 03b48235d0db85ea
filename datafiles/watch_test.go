package datafiles

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func startedSet(t *testing.T, opts Options) (*Set, recorder) {
	t.Helper()
	rec := newRecorder()
	opts.OnLoad = rec.onLoad
	s := newSet(t, opts)
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range opts.Sources {
		if ev := rec.next(t); ev.err != nil {
			t.Fatal(ev.err)
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	return s, rec
}

// A watched file is reloaded when written in place, kept when broken,
// seen when replaced by rename and when deleted and created again.
func TestWatchFile(t *testing.T) {
	srcs, paths := files(t, "k")
	path := paths["k"]
	s, rec := startedSet(t, Options{Sources: srcs, WatchDelay: 10 * time.Millisecond})

	writeFile(t, path, datafile(t, "2"))
	rec.waitLoaded(t, "k", "2")
	if got := revision(t, s, "k"); got != "2" {
		t.Fatalf("after writing revision 2: %q in force", got)
	}

	replaceFile(t, path, []byte(`{"version": "4", "revision": "3", "experiments": [{"id": 1}]}`))
	ev := rec.next(t)
	if !errors.Is(ev.err, ErrRejected) || ev.revision != "2" {
		t.Fatalf("broken datafile: OnLoad(%q, %q, %v); want a rejection with revision 2 in force", ev.key, ev.revision, ev.err)
	}
	if got := revision(t, s, "k"); got != "2" {
		t.Fatalf("after a broken datafile: %q in force, want 2", got)
	}

	replaceFile(t, path, datafile(t, "4"))
	rec.waitLoaded(t, "k", "4")

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, datafile(t, "5"))
	for _, ev := range rec.waitLoaded(t, "k", "5") {
		// The deletion may have been seen alone: a fetch failure.
		if ev.err == nil || errors.Is(ev.err, ErrRejected) || ev.revision != "4" {
			t.Errorf("between deletion and creation: OnLoad(%q, %q, %v)", ev.key, ev.revision, ev.err)
		}
	}
	if got := revision(t, s, "k"); got != "5" {
		t.Fatalf("after re-creating: %q in force, want 5", got)
	}
}

// Two datafiles in one directory, two in another: an event reloads only
// what changed.
func TestWatchSeveralFiles(t *testing.T) {
	srcs, paths := files(t, "a", "b")
	other, otherPaths := files(t, "c")
	srcs["c"], paths["c"] = other["c"], otherPaths["c"]
	s, rec := startedSet(t, Options{Sources: srcs, WatchDelay: 10 * time.Millisecond})

	replaceFile(t, paths["b"], datafile(t, "2"))
	if before := rec.waitLoaded(t, "b", "2"); len(before) > 0 {
		t.Errorf("OnLoad calls for unchanged datafiles: %+v", before)
	}
	replaceFile(t, paths["c"], datafile(t, "3"))
	if before := rec.waitLoaded(t, "c", "3"); len(before) > 0 {
		t.Errorf("OnLoad calls for unchanged datafiles: %+v", before)
	}
	for key, want := range map[string]string{"a": "1", "b": "2", "c": "3"} {
		if got := revision(t, s, key); got != want {
			t.Errorf("%s: %q in force, want %q", key, got, want)
		}
	}
}

// A burst of writes is read once it settles, not once per write.
func TestWatchCoalescesBursts(t *testing.T) {
	srcs, paths := files(t, "k")
	_, rec := startedSet(t, Options{Sources: srcs, WatchDelay: 100 * time.Millisecond})
	const writes = 50
	for i := range writes {
		writeFile(t, paths["k"], datafile(t, fmt.Sprint(i+2)))
	}
	before := rec.waitLoaded(t, "k", fmt.Sprint(writes+1))
	if loads := len(before) + 1; loads > writes/5 {
		t.Errorf("%d writes made %d loads; want them coalesced", writes, loads)
	}
}

// When the watched directory goes away, its datafiles are polled, so one
// created again is still seen.
// The parent directory is watched too (another datafile is there), so the
// removal is also an event in a watched directory.
func TestWatchedDirectoryRemoved(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "datafiles")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "df.json")
	writeFile(t, path, datafile(t, "1"))
	writeFile(t, filepath.Join(parent, "other.json"), datafile(t, "1"))
	s, rec := startedSet(t, Options{
		Sources:    map[string]Source{"k": File{Path: path}, "other": File{Path: filepath.Join(parent, "other.json")}},
		WatchDelay: 10 * time.Millisecond, PollInterval: 20 * time.Millisecond})

	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	// Wait until the removal was seen (a failed fetch), so the new
	// directory is not the old one's watch.
	if ev := rec.next(t); ev.key != "k" || ev.err == nil {
		t.Fatalf("after removing the directory: OnLoad(%q, %q, %v)", ev.key, ev.revision, ev.err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, datafile(t, "2"))
	rec.waitLoaded(t, "k", "2")
	if got := revision(t, s, "k"); got != "2" {
		t.Fatalf("%q in force, want 2", got)
	}
}

// Kubernetes mounts a ConfigMap as files that are symbolic links through
// a "..data" link it swaps atomically to a new directory; the datafile's
// own name sees no event. Watching the directory sees the swap.
func TestWatchSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	mkRev := func(name, rev string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "df.json"), datafile(t, rev))
	}
	mkRev("..2026_01", "1")
	if err := os.Symlink("..2026_01", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "df.json")
	if err := os.Symlink(filepath.Join("..data", "df.json"), path); err != nil {
		t.Fatal(err)
	}
	s, rec := startedSet(t, Options{Sources: map[string]Source{"k": File{Path: path}}, WatchDelay: 10 * time.Millisecond})

	mkRev("..2026_02", "2")
	if err := os.Symlink("..2026_02", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	rec.waitLoaded(t, "k", "2")
	if got := revision(t, s, "k"); got != "2" {
		t.Fatalf("%q in force, want 2", got)
	}
}
