package datafiles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"time"
)

// racyWindow is how long after its last change a file's status is trusted
// to reveal the next change. A write within the file system's timestamp
// granularity of the previous one, keeping the size, leaves size and times
// as they were; so a file changed less than racyWindow before it was read
// is hashed again on every Fetch until it has been still for longer.
const racyWindow = 2 * time.Second

// File is a datafile on the local file system. The Set watches its
// directory, so a file replaced by rename (as editors and deployment tools
// do) or deleted and created again is seen as well as one written in place.
//
// Fetch answers Unchanged without reading when the file's size, times,
// device and inode are what they were (on Linux; elsewhere it always
// reads), and after reading when its SHA-256 is the same.
type File struct {
	// Path is the datafile's path.
	Path string
	// MaxBytes bounds the file's size; zero means DefaultMaxBytes.
	MaxBytes int64
}

// String returns the path.
func (f File) String() string { return f.Path }

// watchedPath makes the Set watch f instead of polling it.
func (f File) watchedPath() string { return f.Path }

// Fetch reads the file unless since shows it unchanged.
func (f File) Fetch(ctx context.Context, since string) (Content, error) {
	if err := ctx.Err(); err != nil {
		return Content{}, fmt.Errorf("read datafile %s: %w", f.Path, err)
	}
	limit := maxBytes(f.MaxBytes)
	now := time.Now() // before the stat: "settled" errs towards hashing
	// Checked before opening too: opening a named pipe would block.
	if fi, err := os.Stat(f.Path); err != nil {
		return Content{}, fmt.Errorf("read datafile: %w", err)
	} else if !fi.Mode().IsRegular() {
		return Content{}, fmt.Errorf("read datafile %s: not a regular file (%s)", f.Path, fi.Mode().Type())
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return Content{}, fmt.Errorf("read datafile: %w", err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return Content{}, fmt.Errorf("read datafile: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Content{}, fmt.Errorf("read datafile %s: not a regular file (%s)", f.Path, fi.Mode().Type())
	}
	if fi.Size() > limit {
		return Content{}, fmt.Errorf("read datafile %s: %d bytes, more than the limit of %d", f.Path, fi.Size(), limit)
	}
	prev := decodeVersion(since)
	key, changed, ok := statKey(fi)
	if ok && prev.Get("settled") == "1" && prev.Get("stat") == key {
		return Content{Unchanged: true}, nil
	}
	data, err := readBounded(fh, limit)
	if err != nil {
		return Content{}, fmt.Errorf("read datafile %s: %w", f.Path, err)
	}
	settled := ""
	if ok && now.Sub(changed) > racyWindow {
		settled = "1"
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	version := encodeVersion("stat", key, "settled", settled, "sha256", hash)
	if prev.Get("sha256") == hash {
		return Content{Version: version, Unchanged: true}, nil
	}
	return Content{Data: data, Version: version}, nil
}
