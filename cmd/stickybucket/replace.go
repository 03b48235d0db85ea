package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// replaceFile replaces the file at path with what write writes, so that a
// crash, a signal or a full disk leaves either the old file or the new one,
// never part of one, and no temporary file behind:
//
//   - A symbolic link at path is followed (to any depth) and its target is
//     replaced; the link stays a link. A missing target is created.
//   - The new content goes to a temporary file in the target's directory:
//     on Linux an unnamed one (O_TMPFILE), which vanishes with the process
//     even on SIGKILL, given a name only just before the rename; elsewhere,
//     or where the file system lacks O_TMPFILE, a hidden named one removed
//     on every error.
//   - The new file gets the old one's permission bits (and owner and group
//     where the process may set them); a new file gets 0666 less the umask.
//   - The data is fsynced, renamed over the target, and the directory is
//     fsynced so the rename itself survives a crash.
//
// A rename cannot keep hard links: other names of the old file keep the
// old content. hardLinks lets callers warn about that beforehand.
func replaceFile(path string, write func(io.Writer) error) (err error) {
	target, err := resolveSymlinks(path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(target)
	perm := fs.FileMode(0o666) // less the umask, as os.Create
	old, err := os.Stat(target)
	switch {
	case err == nil:
		if old.IsDir() {
			return fmt.Errorf("replace %s: is a directory; give a file's path", target)
		}
		if !old.Mode().IsRegular() {
			return fmt.Errorf("replace %s: not a regular file (%s)", target, old.Mode().Type())
		}
		perm = old.Mode().Perm()
	case errors.Is(err, fs.ErrNotExist):
		old = nil
	default:
		return fmt.Errorf("replace %s: %w", target, err)
	}

	tmp, err := createTemp(dir, filepath.Base(target), perm)
	if err != nil {
		return fmt.Errorf("replace %s: create temporary file: %w", target, err)
	}
	defer func() {
		if err != nil {
			tmp.discard()
		}
	}()
	bw := bufio.NewWriterSize(tmp.f, 256<<10)
	if err := write(bw); err != nil {
		return fmt.Errorf("replace %s: %w", target, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("replace %s: write: %w", target, err)
	}
	if testHookWritten != nil {
		testHookWritten()
	}
	if old != nil {
		// Owner first: chown clears set-ID bits that chmod then restores.
		keepOwner(tmp.f, old)
		if err := tmp.f.Chmod(perm); err != nil {
			return fmt.Errorf("replace %s: keep mode %v: %w", target, perm, err)
		}
	}
	if err := tmp.f.Sync(); err != nil {
		return fmt.Errorf("replace %s: sync: %w", target, err)
	}
	if err := tmp.publish(target); err != nil {
		return fmt.Errorf("replace %s: %w", target, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("replace %s: the file is replaced but %w", target, err)
	}
	return nil
}

// The platform's unnamed temporary files, as variables so tests can take
// them away and exercise the named fallback.
var (
	openUnnamedFile = openUnnamed
	linkUnnamedFile = linkUnnamed
)

// testHookWritten, when set by a test, runs once the new content is
// written to the temporary file and before it replaces the target: a test
// can stop or kill the process at that point.
var testHookWritten func()

// tempFile is a temporary file being written: unnamed (name == "") until
// publish links it, or named from the start.
type tempFile struct {
	f    *os.File
	dir  string
	base string
	name string
}

// createTemp opens an unnamed temporary file in dir if the platform and
// the file system allow, else a named one.
func createTemp(dir, base string, perm fs.FileMode) (*tempFile, error) {
	if f, err := openUnnamedFile(dir, perm); err == nil {
		return &tempFile{f: f, dir: dir, base: base}, nil
	}
	f, name, err := openNamed(dir, base, perm)
	if err != nil {
		return nil, err
	}
	return &tempFile{f: f, dir: dir, base: base, name: name}, nil
}

// openNamed creates a new hidden file next to the target. The permission
// is applied at creation (less the umask), as os.Create does, rather than
// os.CreateTemp's 0600.
func openNamed(dir, base string, perm fs.FileMode) (*os.File, string, error) {
	for range 100 {
		name := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, name, err
	}
	return nil, "", fmt.Errorf("no free temporary name in %s", dir)
}

// publish closes the file and renames it over target. An unnamed file is
// first linked under a temporary name; if that fails (no /proc, say) its
// content is copied into a named temporary file instead.
func (t *tempFile) publish(target string) error {
	if t.name == "" {
		name, err := t.link()
		if err != nil {
			return err
		}
		t.name = name
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", t.name, err)
	}
	t.f = nil
	if err := os.Rename(t.name, target); err != nil {
		return err
	}
	t.name = ""
	return nil
}

// link gives the unnamed file a temporary name.
func (t *tempFile) link() (string, error) {
	for range 100 {
		name := filepath.Join(t.dir, "."+t.base+".tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		err := linkUnnamedFile(t.f, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err == nil {
			return name, nil
		}
		return t.copyToNamed()
	}
	return "", fmt.Errorf("no free temporary name in %s", t.dir)
}

// copyToNamed copies the unnamed file into a named one and switches to it.
func (t *tempFile) copyToNamed() (string, error) {
	info, err := t.f.Stat()
	if err != nil {
		return "", err
	}
	f, name, err := openNamed(t.dir, t.base, info.Mode().Perm())
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, io.NewSectionReader(t.f, 0, info.Size()))
	keepOwner(f, info)
	if err == nil {
		err = f.Chmod(info.Mode().Perm())
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(name)
		return "", fmt.Errorf("copy to %s: %w", name, err)
	}
	t.f.Close()
	t.f = f
	return name, nil
}

// discard closes and removes the temporary file, whatever state it is in.
func (t *tempFile) discard() {
	if t.f != nil {
		t.f.Close()
	}
	if t.name != "" {
		os.Remove(t.name)
	}
}

// resolveSymlinks follows symbolic links at path until it reaches a file
// that is not one, or a name that does not exist (a dangling link's target
// is created). Each directory on the way is resolved physically, so a
// relative link with ".." means what the kernel would make of it.
func resolveSymlinks(path string) (string, error) {
	p := path
	for range 40 { // Linux's own limit
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if err != nil {
			return "", fmt.Errorf("replace %s: directory: %w", path, err)
		}
		p = filepath.Join(dir, filepath.Base(p))
		info, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", fmt.Errorf("replace %s: %w", path, err)
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", fmt.Errorf("replace %s: %w", path, err)
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(dir, link)
		}
		p = link
	}
	return "", fmt.Errorf("replace %s: too many levels of symbolic links", path)
}

// syncDir makes a rename in dir durable. File systems that cannot sync a
// directory (EINVAL) have nothing to make durable that way.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory to sync it: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
