package datafiles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
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
		return Content{}, f.error(err)
	} else if err := notRegular(fi); err != nil {
		return Content{}, f.error(err)
	}
	fh, err := os.Open(f.Path)
	if err != nil {
		return Content{}, f.error(err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return Content{}, f.error(err)
	}
	if err := notRegular(fi); err != nil {
		return Content{}, f.error(err)
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

// error says that reading the file failed, naming it once: an
// *fs.PathError's own operation and path ("stat /x: ") are left out, its
// cause kept (errors.Is(err, fs.ErrNotExist) holds).
func (f File) error(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return fmt.Errorf("read datafile %s: %w", f.Path, err)
}

// notRegular says why fi is not a file to read a datafile from.
func notRegular(fi fs.FileInfo) error {
	switch t := fi.Mode().Type(); {
	case fi.Mode().IsRegular():
		return nil
	case fi.IsDir():
		return errors.New("is a directory; give the datafile's path")
	case t&fs.ModeNamedPipe != 0:
		return errors.New("is a named pipe, not a regular file")
	case t&fs.ModeSocket != 0:
		return errors.New("is a socket, not a regular file")
	case t&fs.ModeDevice != 0:
		return errors.New("is a device, not a regular file")
	default:
		return fmt.Errorf("not a regular file (%s)", t)
	}
}
