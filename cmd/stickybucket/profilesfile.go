package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"

	"github.com/stickybucket/stickybucket/ups"
)

// The profiles file is a JSON array of Optimizely profiles, written one
// profile per line:
//
//	[
//	{"user_id":"alice","experiment_bucket_map":{"1001":{"variation_id":"2001"}}},
//	{"user_id":"bob","experiment_bucket_map":{"1001":{"variation_id":"2002"}}}
//	]
//
// Both directions stream: memory holds one profile of the file at a time,
// besides the store the profiles go to or come from.

// loadProfiles streams the profiles of the file at path to save, in file
// order. A missing file holds no profiles: the first run of a series starts
// with none. Anything but a JSON array of valid profiles is an error naming
// the file and, for an element, its index and byte offset. It stops with
// ctx's error once ctx is done.
func loadProfiles(ctx context.Context, path string, save func(ups.Profile) error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read profiles: %w", err)
	}
	defer f.Close()
	if err := readProfiles(ctx, f, save); err != nil {
		return fmt.Errorf("profiles file %s: %w", path, err)
	}
	return nil
}

// readProfiles decodes a JSON array of profiles token by token, handing
// each element to save as soon as it is decoded.
func readProfiles(ctx context.Context, r io.Reader, save func(ups.Profile) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 256<<10))
	tok, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty; want a JSON array of profiles ([] for none)")
	case err != nil:
		// Token decodes a leading number as a float64, and errors on one
		// that does not fit (repeating it whole): it is no array either.
		if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return errors.New("want a JSON array of profiles, got a number")
		}
		return fmt.Errorf("want a JSON array of profiles: %s", clip(err.Error()))
	case tok != json.Delim('['):
		return fmt.Errorf("want a JSON array of profiles, got %s", tokenKind(tok))
	}
	for i := 0; dec.More(); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		offset := elementStart(dec)
		var p ups.Profile
		if err := dec.Decode(&p); err != nil {
			return fmt.Errorf("element %d (byte %d): %w", i, offset, boundedError{err})
		}
		if err := save(p); err != nil {
			return fmt.Errorf("element %d (byte %d): %w", i, offset, err)
		}
	}
	if _, err := dec.Token(); err != nil { // ]
		return fmt.Errorf("want a JSON array of profiles: %s", clip(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the array (byte %d)", dec.InputOffset())
	}
	return nil
}

// elementStart is the byte offset of the array element dec decodes next:
// its input offset, past the comma and whitespace that More has already
// buffered.
func elementStart(dec *json.Decoder) int64 {
	offset := dec.InputOffset()
	r := dec.Buffered()
	var b [1]byte
	for {
		if n, _ := r.Read(b[:]); n == 0 || !bytes.ContainsRune([]byte(", \t\r\n"), rune(b[0])) {
			return offset
		}
		offset++
	}
}

// boundedError is an error whose message is cut to a bounded length (the
// decoder's errors can repeat a value whole); Unwrap still reaches it.
type boundedError struct{ err error }

func (b boundedError) Error() string { return clipTo(b.err.Error(), 512) }
func (b boundedError) Unwrap() error { return b.err }

// tokenKind names what a JSON document starts with.
func tokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return string(v)
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// saveProfiles replaces the file at path with profiles (see replaceFile
// for how: atomic, following symlinks, keeping the mode). Each profile is
// encoded and written on its own. User IDs and IDs are written as they
// are, without HTML escaping.
func saveProfiles(path string, profiles iter.Seq[ups.Profile]) error {
	return replaceFile(path, func(w io.Writer) error {
		return writeProfiles(w, profiles)
	})
}

// profileJSON is the Optimizely schema, as ups.Profile.MarshalJSON writes
// it; encoding it here lets one encoder, without HTML escaping, write
// every profile.
type profileJSON struct {
	UserID    string                   `json:"user_id"`
	BucketMap map[string]variationJSON `json:"experiment_bucket_map"`
}

type variationJSON struct {
	VariationID string `json:"variation_id"`
}

func writeProfiles(w io.Writer, profiles iter.Seq[ups.Profile]) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	pj := profileJSON{BucketMap: map[string]variationJSON{}}
	if _, err := io.WriteString(w, "["); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	sep := "\n"
	for p := range profiles {
		pj.UserID = p.UserID
		clear(pj.BucketMap)
		for expID, a := range p.Assignments {
			pj.BucketMap[expID] = variationJSON{a.VariationID}
		}
		buf.Reset()
		buf.WriteString(sep)
		if err := enc.Encode(pj); err != nil {
			return fmt.Errorf("encode profile of user %q: %w", clip(p.UserID), err)
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline; the separator adds one
		if _, err := w.Write(buf.Bytes()); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		sep = ",\n"
	}
	if sep == "\n" {
		sep = "" // no profiles: []
	} else {
		sep = "\n"
	}
	if _, err := io.WriteString(w, sep+"]\n"); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
