package datafiles

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cdn is a test datafile server that counts requests and full bodies and
// honours If-None-Match like Optimizely's CDN.
type cdn struct {
	mu       sync.Mutex
	body     []byte
	etag     string
	status   int // when not 0, every request gets it
	hits     int
	bodies   int
	lastIfNM string
	hit      chan struct{} // receives after each request, if not nil
}

func (c *cdn) set(body []byte, etag string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.body, c.etag = body, etag
}

func (c *cdn) fail(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status = status
}

func (c *cdn) counts() (hits, bodies int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits, c.bodies
}

func (c *cdn) ifNoneMatch() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastIfNM
}

func (c *cdn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.hits++
	c.lastIfNM = r.Header.Get("If-None-Match")
	status, body, etag := c.status, c.body, c.etag
	switch {
	case status != 0:
	case etag != "" && c.lastIfNM == etag:
		status = http.StatusNotModified
	default:
		status = http.StatusOK
		c.bodies++
	}
	hit := c.hit
	c.mu.Unlock()
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	w.WriteHeader(status)
	if status == http.StatusOK {
		_, _ = w.Write(body)
	}
	if hit != nil {
		select {
		case hit <- struct{}{}:
		default:
		}
	}
}

func newCDN(t *testing.T, body []byte, etag string) (*cdn, *httptest.Server) {
	c := &cdn{body: body, etag: etag}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func TestURLETag(t *testing.T) {
	ctx := t.Context()
	c, srv := newCDN(t, datafile(t, "1"), `"v1"`)
	u := URL{URL: srv.URL + "/datafiles/key.json", Client: srv.Client()}

	first, err := u.Fetch(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if first.Unchanged || string(first.Data) != string(datafile(t, "1")) {
		t.Fatalf("first fetch: unchanged %v, %d bytes", first.Unchanged, len(first.Data))
	}
	for range 3 {
		again, err := u.Fetch(ctx, first.Version)
		if err != nil {
			t.Fatal(err)
		}
		if !again.Unchanged || again.Data != nil {
			t.Fatalf("304: unchanged %v, %d bytes", again.Unchanged, len(again.Data))
		}
	}
	if got := c.ifNoneMatch(); got != `"v1"` {
		t.Errorf("If-None-Match sent: %q, want %q", got, `"v1"`)
	}
	if hits, bodies := c.counts(); hits != 4 || bodies != 1 {
		t.Errorf("server saw %d requests and sent %d bodies; want 4 and 1", hits, bodies)
	}

	c.set(datafile(t, "2"), `"v2"`)
	next, err := u.Fetch(ctx, first.Version)
	if err != nil {
		t.Fatal(err)
	}
	if next.Unchanged || string(next.Data) != string(datafile(t, "2")) {
		t.Fatalf("new datafile: unchanged %v, %d bytes", next.Unchanged, len(next.Data))
	}
}

// A server without ETags (or with a new ETag for the same bytes) sends the
// body again; the same SHA-256 still makes it Unchanged.
func TestURLSameBodyIsUnchanged(t *testing.T) {
	c, srv := newCDN(t, datafile(t, "1"), "")
	u := URL{URL: srv.URL, Client: srv.Client()}
	first, err := u.Fetch(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := u.Fetch(t.Context(), first.Version)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Unchanged || again.Data != nil || again.Version == "" {
		t.Fatalf("same body: unchanged %v, %d bytes, version %q", again.Unchanged, len(again.Data), again.Version)
	}
	if got := c.ifNoneMatch(); got != "" {
		t.Errorf("If-None-Match %q sent without an ETag", got)
	}
}

func TestURLLastModified(t *testing.T) {
	lastMod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(http.TimeFormat)
	var gotIMS atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotIMS.Store(r.Header.Get("If-Modified-Since"))
		if r.Header.Get("If-Modified-Since") == lastMod {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Last-Modified", lastMod)
		_, _ = w.Write(datafile(t, "1"))
	}))
	defer srv.Close()
	u := URL{URL: srv.URL, Client: srv.Client()}
	first, err := u.Fetch(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := u.Fetch(t.Context(), first.Version)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Unchanged || gotIMS.Load() != lastMod {
		t.Fatalf("If-Modified-Since %q, unchanged %v; want %q and unchanged", gotIMS.Load(), again.Unchanged, lastMod)
	}
}

func TestURLHeaderAndRedaction(t *testing.T) {
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write(datafile(t, "1"))
	}))
	defer srv.Close()
	u := URL{URL: strings.Replace(srv.URL, "http://", "http://user:secret@", 1), Client: srv.Client(),
		Header: http.Header{"Authorization": {"Bearer token"}}}
	if _, err := u.Fetch(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if auth.Load() != "Bearer token" {
		t.Errorf("Authorization %q, want the configured header", auth.Load())
	}
	if strings.Contains(u.String(), "secret") {
		t.Errorf("String() = %q shows the password", u.String())
	}
}

func TestURLErrors(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusNotFound, http.StatusForbidden} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			c, srv := newCDN(t, datafile(t, "1"), `"v1"`)
			c.fail(status)
			u := URL{URL: srv.URL + "/df.json", Client: srv.Client()}
			_, err := u.Fetch(t.Context(), "")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range []string{srv.URL + "/df.json", http.StatusText(status)} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	t.Run("304 to an unconditional request", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}))
		defer srv.Close()
		if _, err := (URL{URL: srv.URL, Client: srv.Client()}).Fetch(t.Context(), ""); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		if _, err := (URL{URL: "http://[::1"}).Fetch(t.Context(), ""); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestURLTooLarge(t *testing.T) {
	big := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"Content-Length", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(big))
		}, "Content-Length 1000 is more than the limit of 100"},
		{"chunked", func(w http.ResponseWriter, r *http.Request) {
			for range 10 {
				_, _ = w.Write([]byte(big[:100]))
				w.(http.Flusher).Flush() // no Content-Length
			}
		}, "larger than 100 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			_, err := URL{URL: srv.URL, Client: srv.Client(), MaxBytes: 100}.Fetch(t.Context(), "")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("error %v; want one naming %s and saying %q", err, srv.URL, tc.want)
			}
		})
	}
}

// A server that does not answer is given up on after Timeout. The handler
// waits for the request to be cancelled, so no timing is assumed.
func TestURLTimeout(t *testing.T) {
	gaveUp := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(gaveUp)
		case <-time.After(testDeadline):
		}
	}))
	defer srv.Close()
	_, err := URL{URL: srv.URL, Client: srv.Client(), Timeout: 50 * time.Millisecond}.Fetch(t.Context(), "")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("error %v; want a deadline naming %s", err, srv.URL)
	}
	select {
	case <-gaveUp:
	case <-time.After(testDeadline):
		t.Fatal("the server never saw the request cancelled")
	}
}
