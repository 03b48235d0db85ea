package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// cdnStub serves one datafile per SDK key under /datafiles/KEY.json, with
// an ETag, answering 304 to If-None-Match as Optimizely's CDN does.
type cdnStub struct {
	mu      sync.Mutex
	files   map[string]string // SDK key → examples file
	fetches []string          // "KEY If-None-Match"
}

func (c *cdnStub) set(key, file string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files[key] = file
}

func (c *cdnStub) log() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.fetches...)
}

func (c *cdnStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := strings.CutPrefix(r.URL.Path, "/datafiles/")
	key, ok2 := strings.CutSuffix(key, ".json")
	c.mu.Lock()
	file := c.files[key]
	c.fetches = append(c.fetches, key+" "+r.Header.Get("If-None-Match"))
	c.mu.Unlock()
	if !ok || !ok2 || file == "" {
		http.NotFound(w, r)
		return
	}
	etag := `"` + file + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	http.ServeFile(w, r, filepath.Join("../../examples", file))
}

// TestServeBySDKKeyAndWebhook: serve given SDK keys alone fetches their
// datafiles from datafile_url_template (a CDN on loopback here); a webhook
// signed as Optimizely signs them makes it fetch the project's datafile
// before answering 204, so the very next request decides on the new
// revision; a badly signed one changes nothing.
func TestServeBySDKKeyAndWebhook(t *testing.T) {
	cdn := &cdnStub{files: map[string]string{"K1": "datafile-v1.json", "K2": "datafile-v1.json"}}
	srv := httptest.NewServer(cdn)
	t.Cleanup(srv.Close)
	template := srv.URL + "/datafiles/%s.json"

	// --sdk-key alone.
	api, _, stop := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "off", "--sdk-key", "K2", "--datafile-url-template", template)
	if code, c := getJSONWithKey(t, api+"/v1/config", "K2"); code != 200 || c["revision"] != "1" {
		t.Fatalf("--sdk-key K2: /v1/config %d revision %v, want 200 and 1", code, c["revision"])
	}
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d", code)
	}

	// datafiles by SDK key in the configuration, and the webhook.
	cfg := filepath.Join(t.TempDir(), "stickybucket.yaml")
	yaml := "datafile_url_template: '" + template + "'\n" +
		"datafiles: [{sdk_key: K1}]\n" +
		"webhook:\n  listen: 127.0.0.1:0\n  projects:\n    \"10000\": {sdk_keys: [K1], secret: the-secret}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	addrs, _ := startServeAddrs(t, "--config", cfg, "--listen", "127.0.0.1:0", "--admin-listen", "off")
	if len(addrs) != 2 {
		t.Fatalf("serve listens on %q, want the API and the webhook", addrs)
	}
	api, hook := "http://"+addrs[0], "http://"+addrs[1]+"/webhooks/optimizely"
	if code, c := getJSONWithKey(t, api+"/v1/config", "K1"); code != 200 || c["revision"] != "1" {
		t.Fatalf("/v1/config %d revision %v, want 200 and 1", code, c["revision"])
	}

	cdn.set("K1", "datafile-v2.json")
	body := `{"project_id":10000,"timestamp":1764756000,"event":"project.datafile_updated","data":{"revision":2,"origin_url":"x","cdn_url":"x","environment":"Production"}}`
	post := func(signature string) int {
		req, _ := http.NewRequest(http.MethodPost, hook, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature", signature)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post("sha1=0000000000000000000000000000000000000000"); code != 400 {
		t.Fatalf("badly signed webhook: %d, want 400", code)
	}
	if _, c := getJSONWithKey(t, api+"/v1/config", "K1"); c["revision"] != "1" {
		t.Fatalf("revision %v after a badly signed webhook, want 1", c["revision"])
	}
	mac := hmac.New(sha1.New, []byte("the-secret"))
	mac.Write([]byte(body))
	if code := post("sha1=" + hex.EncodeToString(mac.Sum(nil))); code != 204 {
		t.Fatalf("signed webhook: %d, want 204", code)
	}
	if _, c := getJSONWithKey(t, api+"/v1/config", "K1"); c["revision"] != "2" {
		t.Fatalf("revision %v right after the webhook's 204, want 2", c["revision"])
	}
	// The webhook's fetch was conditional, with the ETag of revision 1.
	log := cdn.log()
	if last := log[len(log)-1]; last != `K1 "datafile-v1.json"` {
		t.Errorf("CDN fetches %q: the webhook's was not conditional on revision 1's ETag", log)
	}
}

func getJSONWithKey(t *testing.T, url, sdkKey string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("X-Optimizely-SDK-Key", sdkKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}
