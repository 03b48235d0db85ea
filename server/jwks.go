package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
)

// jwks is an external issuer's key set: fetched at start, again every
// interval (jwkset's refresh goroutine), and for a token whose kid it does
// not hold, at most once per minRefresh whatever the number of such
// tokens (refreshUnknown).
type jwks struct {
	url        string
	client     *http.Client
	timeout    time.Duration
	store      jwkset.Storage
	keyfunc    keyfunc.Keyfunc
	minRefresh time.Duration
	now        func() time.Time
	log        *slog.Logger
	cancel     context.CancelFunc

	// refreshing is held by the one refresh for an unknown kid under
	// way; a token arriving meanwhile does not wait for it.
	refreshing sync.Mutex
	last       time.Time // of the last refresh for an unknown kid; under refreshing
	// failures counts the refreshes that failed, on the interval or for
	// an unknown kid.
	failures *atomic.Uint64
}

func newJWKS(ctx context.Context, opts JWTOptions, fetches *atomic.Uint64, now func() time.Time) (*jwks, error) {
	every := opts.JWKSUpdateInterval
	if every <= 0 {
		every = time.Hour
	}
	minRefresh := opts.JWKSMinRefreshInterval
	if minRefresh <= 0 {
		minRefresh = 5 * time.Minute
	}
	client := opts.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	bounded := *client
	next := bounded.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	bounded.Transport = boundedBodies{next: next, max: MaxJWKSBytes, closed: fetches}
	timeout := client.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	// The refreshes live until Close, not until the caller's context
	// (often a start-up deadline) ends.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	failures := new(atomic.Uint64)
	store, err := jwkset.NewStorageFromHTTP(opts.JWKSURL, jwkset.HTTPClientStorageOptions{
		Client: &bounded, Ctx: bg, HTTPTimeout: timeout, RefreshInterval: every,
		RefreshErrorHandler: func(_ context.Context, err error) {
			failures.Add(1)
			log.Warn("JWKS refresh failed; the keys fetched last are kept", "url", opts.JWKSURL, "err", err)
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("server: JWT verifier: JWKS %s: %w", opts.JWKSURL, err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: bg, Storage: store})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("server: JWT verifier: JWKS %s: %w", opts.JWKSURL, err)
	}
	return &jwks{url: opts.JWKSURL, client: &bounded, timeout: timeout, store: store, keyfunc: kf,
		minRefresh: minRefresh, now: now, log: log, cancel: cancel, failures: failures}, nil
}

// has reports whether the set holds kid, fetching it again first if it
// does not and the bound allows.
func (j *jwks) has(kid string) bool {
	if _, err := j.store.KeyRead(context.Background(), kid); err == nil {
		return true
	}
	if !j.refreshUnknown() {
		return false
	}
	_, err := j.store.KeyRead(context.Background(), kid)
	return err == nil
}

// refreshUnknown fetches the set again unless another such fetch is under
// way or one started less than minRefresh ago; it reports whether it
// fetched. The fetch has its own deadline, not the request's, so a request
// given up on does not waste it.
func (j *jwks) refreshUnknown() bool {
	if !j.refreshing.TryLock() {
		return false
	}
	defer j.refreshing.Unlock()
	now := j.now()
	if !j.last.IsZero() && now.Sub(j.last) < j.minRefresh {
		return false
	}
	j.last = now
	ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
	defer cancel()
	if err := j.fetch(ctx); err != nil {
		j.failures.Add(1)
		j.log.Warn("JWKS refresh for an unknown kid failed; the keys fetched last are kept", "url", j.url, "err", err)
		return false
	}
	return true
}

// fetch replaces the stored keys with the set at the URL, as jwkset's own
// refresh does (unsupported keys skipped).
func (j *jwks) fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", j.url, resp.StatusCode)
	}
	var set jwkset.JWKSMarshal
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return fmt.Errorf("decode the key set: %w", err)
	}
	keys := make([]jwkset.JWK, 0, len(set.Keys))
	for _, m := range set.Keys {
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
		switch {
		case errors.Is(err, jwkset.ErrUnsupportedKey):
			continue
		case err != nil:
			return fmt.Errorf("key %q: %w", m.KID, err)
		}
		keys = append(keys, k)
	}
	return j.store.KeyReplaceAll(ctx, keys)
}

// boundedBodies refuses answers longer than max bytes, and counts in
// closed the bodies closed: a fetch's keys are stored before its body is
// closed.
type boundedBodies struct {
	next   http.RoundTripper
	max    int64
	closed *atomic.Uint64
}

func (b boundedBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > b.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s answered %d bytes, more than the %d allowed", req.URL.Redacted(), resp.ContentLength, b.max)
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: b.max + 1, max: b.max, url: req.URL.Redacted(), closed: b.closed}
	return resp, nil
}

// boundedBody reads at most max bytes: one more is an error.
type boundedBody struct {
	io.ReadCloser
	left, max int64
	url       string
	closed    *atomic.Uint64
	once      sync.Once
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left <= 0 {
		return n, fmt.Errorf("%s answered more than the %d bytes allowed", b.url, b.max)
	}
	return n, err
}

func (b *boundedBody) Close() error {
	b.once.Do(func() { b.closed.Add(1) })
	return b.ReadCloser.Close()
}
