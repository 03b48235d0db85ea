package datafiles

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// DefaultTimeout bounds one URL fetch when URL.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// URL is a datafile served over HTTP, such as Optimizely's CDN
// (https://cdn.optimizely.com/datafiles/SDK_KEY.json). Fetch sends the
// ETag and Last-Modified of the previous response as If-None-Match and
// If-Modified-Since, so an unchanged datafile costs a 304 and no body.
type URL struct {
	// URL is the datafile's address.
	URL string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Header is added to every request, e.g. Authorization: Bearer TOKEN
	// for Optimizely's authenticated datafiles.
	Header http.Header
	// Timeout bounds one Fetch, headers and body; zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxBytes bounds the body; zero means DefaultMaxBytes.
	MaxBytes int64
}

// String returns the URL with any password redacted.
func (u URL) String() string {
	p, err := url.Parse(u.URL)
	if err != nil {
		return u.URL
	}
	return p.Redacted()
}

// Fetch GETs the datafile. A 304 answer, or a body with the SHA-256 of
// the one since names, is Unchanged. Any other status than 2xx and 304 is
// an error naming the URL and the status.
func (u URL) Fetch(ctx context.Context, since string) (Content, error) {
	timeout := u.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
	if err != nil {
		return Content{}, fmt.Errorf("fetch datafile %s: %w", u, err)
	}
	for k, vs := range u.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	prev := decodeVersion(since)
	if etag := prev.Get("etag"); etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	if lm := prev.Get("last-modified"); lm != "" {
		req.Header.Set("If-Modified-Since", lm)
	}
	client := u.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req) // a *url.Error, which names the URL
	if err != nil {
		return Content{}, fmt.Errorf("fetch datafile: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		if req.Header.Get("If-None-Match") == "" && req.Header.Get("If-Modified-Since") == "" {
			return Content{}, fmt.Errorf("fetch datafile %s: %s to an unconditional request", u, resp.Status)
		}
		return Content{Unchanged: true}, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		// Drain a little so the connection can be reused.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		return Content{}, fmt.Errorf("fetch datafile %s: status %s", u, resp.Status)
	}
	limit := maxBytes(u.MaxBytes)
	if resp.ContentLength > limit {
		return Content{}, fmt.Errorf("fetch datafile %s: Content-Length %d is more than the limit of %d", u, resp.ContentLength, limit)
	}
	data, err := readBounded(resp.Body, limit)
	if err != nil {
		return Content{}, fmt.Errorf("fetch datafile %s: body: %w", u, err)
	}
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	version := encodeVersion("etag", resp.Header.Get("ETag"), "last-modified", resp.Header.Get("Last-Modified"), "sha256", hash)
	if prev.Get("sha256") == hash {
		return Content{Version: version, Unchanged: true}, nil
	}
	return Content{Data: data, Version: version}, nil
}
