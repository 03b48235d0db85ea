package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startServe runs `stickybucket serve args…` in this process and returns
// the API and admin base URLs once it logs that it is ready, and a stop
// function that cancels it and returns its exit status.
func startServe(t *testing.T, args ...string) (api, admin string, stop func() int) {
	t.Helper()
	addrs, stop := startServeAddrs(t, args...)
	api = "http://" + addrs[0]
	if len(addrs) > 1 {
		admin = "http://" + addrs[1]
	}
	return api, admin, stop
}

// startServeAddrs is startServe returning every address serve listens
// on, in the order it logs them (API, admin, webhook).
func startServeAddrs(t *testing.T, args ...string) (addrs []string, stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		code := run(ctx, append([]string{"serve"}, args...), strings.NewReader(""), io.Discard, pw)
		pw.Close()
		done <- code
	}()
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var line struct {
				Msg    string   `json:"msg"`
				Listen []string `json:"listen"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "ready to serve" {
				ready <- line.Listen
			}
		}
	}()
	select {
	case addrs = <-ready:
	case code := <-done:
		cancel()
		t.Fatalf("serve exited with %d before it was ready", code)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve was not ready within 30s")
	}
	var stopped bool
	stop = func() int {
		if stopped {
			return -1
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return addrs, stop
}

func decideVia(t *testing.T, api, user, flag string) map[string]any {
	t.Helper()
	res, err := http.Post(api+"/v1/decide?keys="+flag, "application/json", strings.NewReader(`{"userId":"`+user+`","userAttributes":{"plan":"pro","country":"de","app_version":"3.2.0"}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(res.Body).Decode(&d); err != nil || res.StatusCode != 200 {
		t.Fatalf("decide: %d %v", res.StatusCode, err)
	}
	return d
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

// TestServeStickyAcrossADatafileChange: the served datafile is replaced
// on disk; the service reloads it and the users it decided keep their
// variations.
func TestServeStickyAcrossADatafileChange(t *testing.T) {
	dir := t.TempDir()
	df := filepath.Join(dir, "datafile.json")
	copyFile(t, "../../examples/datafile-v1.json", df)
	api, admin, stop := startServe(t, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "--datafile", "k1="+df)

	users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
	before := map[string]any{}
	for _, u := range users {
		before[u] = decideVia(t, api, u, "new_search")["variationKey"]
	}
	if code, r := getJSON(t, admin+"/ready"); code != 200 || r["status"] != "ready" {
		t.Fatalf("/ready: %d %v", code, r)
	}

	tmp := filepath.Join(dir, "next.json")
	copyFile(t, "../../examples/datafile-v2.json", tmp)
	if err := os.Rename(tmp, df); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, c := getJSON(t, api+"/v1/config")
		if c["revision"] == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("datafile not reloaded: revision %v", c["revision"])
		}
		time.Sleep(50 * time.Millisecond) // polling an observable outcome, bounded above
	}
	for _, u := range users {
		if got := decideVia(t, api, u, "new_search")["variationKey"]; got != before[u] {
			t.Errorf("%s: %v after the datafile change, %v before", u, got, before[u])
		}
	}
	// A broken datafile is rejected and the current one keeps serving.
	if err := os.WriteFile(tmp, []byte(`{"version": "4", "experiments": [{"id": 7}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, df); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		res, err := http.Get(admin + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(b), `stickybucket_datafile_loads_total{result="failed",sdk_key="k1"} 1`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the broken datafile was not counted as a failed load")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, c := getJSON(t, api+"/v1/config"); c["revision"] != "2" {
		t.Errorf("after a broken datafile, revision %v is served, want 2", c["revision"])
	}
	if code := stop(); code != exitOK {
		t.Errorf("exit status %d after a clean stop", code)
	}
}

func TestServeCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--store", "redis", "--datafile", "../../examples/datafile-v1.json"}, `store.kind: "redis" is not memory or cassandra`},
		{[]string{}, "no datafile to serve"},
		{[]string{"--listen", "0.0.0.0:0", "--datafile", "../../examples/datafile-v1.json"}, "not a loopback address and no token is configured"},
		{[]string{"--datafile", "k="}, "--datafile"},
		{[]string{"extra"}, "unexpected arguments"},
		// The defaults are the in-memory store's: switched to Cassandra,
		// what Cassandra needs is missing, and serve says so.
		{[]string{"--store", "cassandra", "--datafile", "../../examples/datafile-v1.json"}, "environments: at least one environment is required with the Cassandra store"},
	}
	for _, tt := range tests {
		var stderr strings.Builder
		code := run(context.Background(), append([]string{"serve"}, tt.args...), strings.NewReader(""), io.Discard, &stderr)
		if code == exitOK || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("serve %v: exit %d, stderr %q; want a failure saying %q", tt.args, code, stderr.String(), tt.want)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(fmt.Errorf("copy %s: %w", from, err))
	}
}

// TestServeDatafileLimits: datafile_limits reach the loader, so a datafile
// over the configured size is refused at start.
func TestServeDatafileLimits(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "stickybucket.yaml")
	yaml := "environments:\n  development:\n    replication: {class: SimpleStrategy, replication_factor: 1}\ndatafile_limits: {max_bytes: 1024}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	code := run(context.Background(), []string{"serve", "--config", cfg, "--listen", "127.0.0.1:0", "--admin-listen", "off", "--datafile", "k=../../examples/datafile-v1.json"},
		strings.NewReader(""), io.Discard, &stderr)
	if code == exitOK || !strings.Contains(stderr.String(), "1024") {
		t.Fatalf("exit %d, stderr %s; want the 5 KB datafile refused for the 1024-byte limit", code, stderr.String())
	}
}

// TestServeMemoryConfigWithoutEnvironments: the Quick start's kind of
// file, for the in-memory store, names no environment and no replication.
func TestServeMemoryConfigWithoutEnvironments(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "stickybucket.yaml")
	yaml := "store: {kind: memory}\nserver: {listen: 127.0.0.1:0, admin_listen: 'off'}\ndatafiles: [{sdk_key: sample, file: ../../examples/datafile-v1.json}]\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	api, _, stop := startServe(t, "--config", cfg)
	if d := decideVia(t, api, "alice", "new_search"); d["variationKey"] == nil {
		t.Errorf("decide = %v", d)
	}
	if code := stop(); code != exitOK {
		t.Errorf("exit status %d", code)
	}
}

// stutter finds a context said twice in an error ("datafiles: load:
// datafiles: SDK key …"): a segment before ": " that comes again.
func stutter(msg string) string {
	seen := map[string]bool{}
	parts := strings.Split(msg, ": ")
	for _, p := range parts[:len(parts)-1] {
		if seen[p] {
			return p
		}
		seen[p] = true
	}
	return ""
}

// TestServeErrorsSayEachContextOnce: serve's errors about its datafiles
// name the package, the SDK key, the source and the cause once each, and
// a directory given as a datafile says so.
func TestServeErrorsSayEachContextOnce(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ datafile, want string }{
		{"k=" + filepath.Join(dir, "missing.json"), `datafiles: load: SDK key "k": read datafile ` + filepath.Join(dir, "missing.json") + ": no such file or directory"},
		{"k=" + dir, `datafiles: load: SDK key "k": read datafile ` + dir + ": is a directory; give the datafile's path"},
		{"k=" + bad, `datafiles: load: SDK key "k": datafile rejected from ` + bad},
	} {
		var stderr strings.Builder
		code := run(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--datafile", tt.datafile},
			strings.NewReader(""), io.Discard, &stderr)
		if code != exitFail {
			t.Errorf("--datafile %s: exit %d, want %d", tt.datafile, code, exitFail)
		}
		var stopped struct{ Err string }
		for l := range strings.SplitSeq(stderr.String(), "\n") {
			var line struct{ Msg, Err, Error string }
			if json.Unmarshal([]byte(l), &line) != nil {
				continue
			}
			if s := stutter(line.Err + line.Error); s != "" {
				t.Errorf("--datafile %s: %q says %q twice", tt.datafile, line.Err+line.Error, s)
			}
			if line.Msg == "stickybucket serve stopped" {
				stopped.Err = line.Err
			}
		}
		if !strings.HasPrefix(stopped.Err, tt.want) {
			t.Errorf("--datafile %s: serve stopped with %q, want %q", tt.datafile, stopped.Err, tt.want)
		}
	}
}
