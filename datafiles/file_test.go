package datafiles

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestFileFetch(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "df.json")
	writeFile(t, path, datafile(t, "1"))
	f := File{Path: path}

	c, err := f.Fetch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Unchanged || string(c.Data) != string(datafile(t, "1")) || c.Version == "" {
		t.Fatalf("first fetch: unchanged %v, %d bytes, version %q", c.Unchanged, len(c.Data), c.Version)
	}

	// Just written: not settled, so read and hashed again, and unchanged.
	c2, err := f.Fetch(ctx, c.Version)
	if err != nil {
		t.Fatal(err)
	}
	if !c2.Unchanged || c2.Data != nil || c2.Version == "" {
		t.Fatalf("same file: unchanged %v, %d bytes, version %q", c2.Unchanged, len(c2.Data), c2.Version)
	}

	writeFile(t, path, datafile(t, "2"))
	c3, err := f.Fetch(ctx, c2.Version)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Unchanged || string(c3.Data) != string(datafile(t, "2")) {
		t.Fatalf("changed file: unchanged %v, %d bytes", c3.Unchanged, len(c3.Data))
	}
}

// A settled file whose status is what the token says is not read: the
// token's hash is wrong, and Fetch still answers Unchanged.
func TestFileSettledStatIsNotRead(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the status shortcut is Linux-only; elsewhere File always reads")
	}
	path := filepath.Join(t.TempDir(), "df.json")
	writeFile(t, path, datafile(t, "1"))
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	key, _, _ := statKey(fi)
	f := File{Path: path}

	c, err := f.Fetch(t.Context(), encodeVersion("stat", key, "settled", "1", "sha256", "not-the-hash"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Unchanged || c.Version != "" {
		t.Fatalf("settled, same status: unchanged %v, version %q; want unchanged without reading", c.Unchanged, c.Version)
	}
	// Not settled: read, and the wrong hash shows the content.
	c, err = f.Fetch(t.Context(), encodeVersion("stat", key, "sha256", "not-the-hash"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Unchanged || len(c.Data) == 0 {
		t.Fatalf("not settled: unchanged %v, %d bytes; want the content", c.Unchanged, len(c.Data))
	}
}

// Tools that keep modification times (cp -p, rsync -t, tar) can produce a
// different datafile with the same size and mtime; the change time and
// inode still tell it apart from a settled one.
func TestFileSameSizeAndMtimeIsStillSeen(t *testing.T) {
	for _, replace := range []struct {
		name  string
		write func(testing.TB, string, []byte)
	}{{"in place", writeFile}, {"by rename", replaceFile}} {
		t.Run(replace.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "df.json")
			v1, v2 := datafile(t, "1"), datafile(t, "2")
			if len(v1) != len(v2) {
				t.Fatal("revisions 1 and 2 should have the same size")
			}
			writeFile(t, path, v1)
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			c, err := File{Path: path}.Fetch(t.Context(), "")
			if err != nil {
				t.Fatal(err)
			}
			// Pretend it had settled long ago.
			v := decodeVersion(c.Version)
			v.Set("settled", "1")

			replace.write(t, path, v2)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			c, err = File{Path: path}.Fetch(t.Context(), v.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if c.Unchanged || string(c.Data) != string(v2) {
				t.Fatalf("same size and mtime, new content: unchanged %v, %d bytes; want revision 2", c.Unchanged, len(c.Data))
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "df.json")
	writeFile(t, path, datafile(t, "1"))
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		f    File
		want []string
	}{
		// The path once, without the system call's name and path again.
		{"missing", t.Context(), File{Path: filepath.Join(dir, "missing.json")}, []string{"read datafile " + filepath.Join(dir, "missing.json") + ": no such file or directory"}},
		{"directory", t.Context(), File{Path: dir}, []string{"read datafile " + dir + ": is a directory; give the datafile's path"}},
		{"too large", t.Context(), File{Path: path, MaxBytes: 100}, []string{path, "more than the limit of 100"}},
		{"cancelled", cancelled, File{Path: path}, []string{path, "context canceled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.f.Fetch(tc.ctx, "")
			if err == nil {
				t.Fatalf("no error; got %d bytes", len(c.Data))
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Count(err.Error(), tc.f.Path) != 1 || strings.Contains(err.Error(), "---") {
				t.Errorf("error %q: the path more than once, or a file mode", err)
			}
		})
	}
}

// A file that grows past the bound between the stat and the read is cut
// at the bound, not buffered whole.
func TestReadBounded(t *testing.T) {
	if _, err := readBounded(strings.NewReader(strings.Repeat("x", 101)), 100); err == nil || !strings.Contains(err.Error(), "larger than 100 bytes") {
		t.Fatalf("101 bytes with a bound of 100: %v", err)
	}
	data, err := readBounded(strings.NewReader(strings.Repeat("x", 100)), 100)
	if err != nil || len(data) != 100 {
		t.Fatalf("100 bytes with a bound of 100: %d bytes, %v", len(data), err)
	}
}

// A named pipe at the path is refused, not opened (which would block).
func TestFileNamedPipe(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no named pipes in the file system")
	}
	path := filepath.Join(t.TempDir(), "df.json")
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), testDeadline)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := File{Path: path}.Fetch(ctx, "")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("named pipe: %v", err)
		}
	case <-ctx.Done():
		// Unblock the open so the goroutine ends.
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		<-done
		t.Fatal("Fetch blocked opening a named pipe")
	}
}
