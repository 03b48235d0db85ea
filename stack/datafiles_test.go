package stack

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
)

// A datafile listed by SDK key alone is fetched from datafile_url_template
// with the SDK key in place of %s, and with its access_token as a bearer
// token (Optimizely's authenticated datafiles); a URL keeps its own
// address.
func TestDatafileSetBySDKKey(t *testing.T) {
	v1, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/auth/SECURE.json" && r.Header.Get("Authorization") == "Bearer tok-123":
		case r.URL.Path == "/auth/OPEN.json" && r.Header.Get("Authorization") == "":
		case r.URL.Path == "/elsewhere/x.json":
		default:
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		_, _ = w.Write(v1)
	}))
	t.Cleanup(cdn.Close)
	cfg := parse(t, memoryEnv+"datafile_url_template: '"+cdn.URL+"/auth/%s.json'\n"+
		"datafiles: [{sdk_key: SECURE, access_token: tok-123}, {sdk_key: OPEN}, {sdk_key: URL, url: '"+cdn.URL+"/elsewhere/x.json'}]\n")
	ctx := context.Background()
	st, err := Open(ctx, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close(ctx) })
	set, err := newDatafileSet(cfg, st, slog.New(slog.NewTextHandler(t.Output(), nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close(ctx) })
	if err := set.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"SECURE", "OPEN", "URL"} {
		e, err := set.Get(key)
		if err != nil || e.Revision != "1" {
			t.Errorf("%s: %v, %v; want revision 1", key, e, err)
		}
	}

	cfg = parse(t, memoryEnv+"datafile_url_template: '"+cdn.URL+"/auth/%s.json'\ndatafiles: [{sdk_key: SECURE}]\n")
	set, err = newDatafileSet(cfg, st, slog.New(slog.NewTextHandler(t.Output(), nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = set.Close(ctx) })
	if err := set.Load(ctx); err == nil {
		t.Error("SECURE without its access token loaded; the test server should have refused it")
	}
}
