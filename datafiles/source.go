package datafiles

import (
	"context"
	"fmt"
	"io"
	"net/url"
)

// DefaultMaxBytes bounds a datafile when a source sets no MaxBytes: 64 MiB,
// far above real datafiles (a few MB for thousands of flags).
const DefaultMaxBytes = 64 << 20

// Source fetches one datafile's bytes. File and URL are the sources of the
// service; other implementations (an object store, say) are polled like
// URL.
type Source interface {
	// Fetch returns the datafile's current bytes. since is the Version of
	// an earlier Content from this source ("" for none): when the datafile
	// is still what since describes, Fetch answers Unchanged, cheaply
	// (without reading or transferring the content where it can).
	Fetch(ctx context.Context, since string) (Content, error)
	// String says where the datafile comes from, for logs and errors
	// (a path, or a URL without its credentials).
	String() string
}

// Content is what Source.Fetch found.
type Content struct {
	// Data is the datafile; nil when Unchanged.
	Data []byte
	// Version identifies Data to the source that returned it (an opaque
	// token, like an ETag); pass it back as Fetch's since. It may be set
	// when Unchanged, then it replaces the token passed in. "" means the
	// source cannot tell versions apart: every Fetch returns the content.
	Version string
	// Unchanged reports that the datafile is still the one since named.
	Unchanged bool
}

// maxBytes returns n, or DefaultMaxBytes when n is not positive.
func maxBytes(n int64) int64 {
	if n <= 0 {
		return DefaultMaxBytes
	}
	return n
}

// readBounded reads r to its end, failing without buffering more than
// limit+1 bytes when r holds more than limit.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("datafile larger than %d bytes", limit)
	}
	return data, nil
}

// A version token is a URL query string: its fields are escaped, so an
// ETag may hold any character.
func encodeVersion(fields ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(fields); i += 2 {
		if fields[i+1] != "" {
			v.Set(fields[i], fields[i+1])
		}
	}
	return v.Encode()
}

// decodeVersion returns the fields of a token; a token that does not
// parse (not from this package) yields no fields, so it matches nothing.
func decodeVersion(token string) url.Values {
	v, err := url.ParseQuery(token)
	if err != nil {
		return url.Values{}
	}
	return v
}
