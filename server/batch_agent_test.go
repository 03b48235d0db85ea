package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The side-by-side test of /v1/batch: Optimizely Agent's binary, built
// from its source by integration's helpers (agentBinary there) and cached
// under the user's cache directory, and serve's handler answer the same
// batch bodies; their answers are compared field by field but for times
// and request IDs.

// agentBinaryPath finds a built Agent: STICKYBUCKET_AGENT_BIN, else the
// newest build in the cache integration's tests fill.
func agentBinaryPath() (string, string) {
	if p := os.Getenv("STICKYBUCKET_AGENT_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Sprintf("STICKYBUCKET_AGENT_BIN=%s: %v", p, err)
		}
		return p, ""
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Sprintf("no user cache directory: %v", err)
	}
	pattern := filepath.Join(cache, "stickybucket", "optimizely-agent", "*", "optimizely")
	found, _ := filepath.Glob(pattern)
	if len(found) == 0 {
		return "", fmt.Sprintf("no Optimizely Agent binary at %s (the integration tests' Agent tests build it there from ../shared/anchors/agent) and STICKYBUCKET_AGENT_BIN is not set", pattern)
	}
	sort.Slice(found, func(i, j int) bool {
		a, _ := os.Stat(found[i])
		b, _ := os.Stat(found[j])
		return a.ModTime().After(b.ModTime())
	})
	return found[0], ""
}

// startAgentForBatch runs Agent on loopback with datafile v1 as SDK key
// k1, served by a local server, and returns its API's base URL.
func startAgentForBatch(t *testing.T, bin string) string {
	t.Helper()
	raw, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	return startAgent(t, bin, raw, "")
}

// startAgent runs Agent on loopback with raw as SDK key k1's datafile and
// apiExtra as more lines of its api section, and returns its API's base
// URL.
func startAgent(t *testing.T, bin string, raw []byte, apiExtra string) string {
	t.Helper()
	files := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/k1.json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(raw)
		case "/events":
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(files.Close)
	var ports [3]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close() // for Agent to take; free ports are chosen apart, so one is taken again only by chance
	}
	conf := filepath.Join(t.TempDir(), "agent.yaml")
	yaml := fmt.Sprintf(`log:
  level: error
server:
  host: 127.0.0.1
api:
  port: "%d"
%sadmin:
  port: "%d"
webhook:
  port: "%d"
client:
  datafileURLTemplate: "%s/%%s.json"
  eventURL: "%s/events"
  pollingInterval: 10m
  odp:
    disable: true
  userProfileService:
    default: "in-memory"
    services:
      in-memory:
        capacity: 0
        storageStrategy: "fifo"
`, ports[0], apiExtra, ports[1], ports[2], files.URL, files.URL)
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	var out lockedOutput
	cmd := exec.Command(bin)
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "OPTIMIZELY_") }),
		"OPTIMIZELY_CONFIG_FILENAME="+conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start agent %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	admin := fmt.Sprintf("http://127.0.0.1:%d/health", ports[1])
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := agentClient.Get(admin); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case <-exited:
			t.Fatalf("agent exited before it was ready:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not ready within 30s:\n%s", out.String())
		}
	}
	return fmt.Sprintf("http://127.0.0.1:%d", ports[0])
}

// agentClient bounds every request of the side-by-side test.
var agentClient = &http.Client{Timeout: 30 * time.Second}

type lockedOutput struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedOutput) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedOutput) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func postBatch(t *testing.T, base, body string) response {
	t.Helper()
	req, err := http.NewRequest("POST", base+"/v1/batch", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := agentClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

// TestBatchSideBySideWithAgent sends the same batch bodies to Agent and to
// serve. Outer status, errorCount and the error's text must be equal (serve
// may add what was wrong after Agent's message); each operation's status,
// operationID, method, url, requestID when the operation sends one, and
// body must be equal, except that where Agent answers an error with no
// JSON body (its router's 404, 405 and 415, an operation it could not
// build) serve answers {"error": "…"}.
func TestBatchSideBySideWithAgent(t *testing.T) {
	bin, why := agentBinaryPath()
	if bin == "" {
		t.Skip(why)
	}
	agent := startAgentForBatch(t, bin)
	s := newBatchService(t, nil)
	sk := []string{sdkKeyHeader, "k1"}
	ct := append([]string{"Content-Type", "application/json"}, sk...)
	with := func(h []string, more ...string) []string { return append(slices.Clone(h), more...) }
	over := make([]string, 501)
	for i := range over {
		over[i] = op(fmt.Sprint(i), "GET", "/v1/config", "", sk...)
	}
	cases := []struct{ name, body string }{
		{"decides", batchOf(
			op("1", "POST", "/v1/decide?keys=new_search", alice, with(ct, "X-Request-Id", "req-1")...),
			op("2", "POST", "/v1/decide", `{"userId":"bob","userAttributes":{"plan":"free"}}`, ct...),
			op("3", "POST", "/v1/decide?keys=dark_mode&keys=new_search", `{"userId":"carol","userAttributes":{"plan":"pro","app_version":"3.2.0"},"decideOptions":["IGNORE_USER_PROFILE_SERVICE"]}`, ct...),
			op("4", "POST", "/v1/decide?keys=new_search", `{"userId":"dave","decideOptions":["ENABLED_FLAGS_ONLY","EXCLUDE_VARIABLES"]}`, ct...),
		)},
		{"mixed methods", `{"operations":[
			{"operationID":"a","method":"POST","url":"/v1/activate","params":{"experimentKey":"checkout_button"},"body":{"userId":"erin"},"headers":{"X-Optimizely-SDK-Key":"k1","Content-Type":"application/json"}},
			{"operationID":"t","method":"POST","url":"/v1/track?eventKey=nope","body":{"userId":"erin"},"headers":{"X-Optimizely-SDK-Key":"k1","Content-Type":"application/json"}},
			{"operationID":"df","method":"GET","url":"/v1/datafile","headers":{"X-Optimizely-SDK-Key":"k1","X-Request-Id":"req-df"}},
			{"operationID":"cf","method":"GET","url":"/v1/config","body":{"ignored":true},"headers":{"X-Optimizely-SDK-Key":"k1"}},
			{"operationID":"lk","method":"POST","url":"/v1/lookup","body":{"userId":"zed"},"headers":{"X-Optimizely-SDK-Key":"k1","Content-Type":"application/json"}},
			{"operationID":"g","method":"GET","url":"/v1/decide","headers":{"X-Optimizely-SDK-Key":"k1"}},
			{"operationID":"ov","method":"POST","url":"/v1/override","body":{"userId":"erin","experimentKey":"checkout_button","variationKey":"green"},"headers":{"X-Optimizely-SDK-Key":"k1","Content-Type":"application/json"}},
			{"operationID":"nu","method":"POST","url":"/v1/decide","headers":{"X-Optimizely-SDK-Key":"k1","Content-Type":"application/json"}},
			{"operationID":"415","method":"POST","url":"/v1/decide","body":{"userId":"erin"},"headers":{"X-Optimizely-SDK-Key":"k1"}},
			{"operationID":"bm","method":"bad method","url":"/v1/config"},
			{"operationID":"bu","method":"GET","url":"/v1/#%"}
		]}`},
		{"unknown path", batchOf(op("u", "GET", "/v1/nowhere", "", sk...), op("u2", "POST", "/v2/decide", alice, ct...))},
		{"nested batch", batchOf(op("n", "POST", "/v1/batch", batchOf(op("i", "GET", "/v1/config", "", sk...)), ct...))},
		{"empty", `{"operations":[]}`},
		{"over the limit", batchOf(over...)},
		{"not JSON", "not json"},
		{"an array", "[]"},
		{"operations not a list", `{"operations":"x"}`},
		{"a body not an object", `{"operations":[{"method":"GET","url":"/v1/config","body":[1]}]}`},
		{"an operationID not a string", `{"operations":[{"method":"GET","url":"/v1/config","operationID":7}]}`},
	}
	compared := 0
	for _, c := range cases {
		ag, sv := postBatch(t, agent, c.body), postBatch(t, s.url, c.body)
		if ag.status != sv.status {
			t.Errorf("%s: Agent %d %s, serve %d %s", c.name, ag.status, ag.body, sv.status, sv.body)
			continue
		}
		if ag.status != 200 {
			var ae, se struct{ Error string }
			if err := json.Unmarshal(ag.body, &ae); err != nil {
				t.Fatalf("%s: Agent's %d is not JSON: %s", c.name, ag.status, ag.body)
			}
			if err := json.Unmarshal(sv.body, &se); err != nil || !strings.HasPrefix(se.Error, ae.Error) {
				t.Errorf("%s: Agent %q, serve %s", c.name, ae.Error, sv.body)
			}
			t.Logf("%s: both %d; Agent %q, serve %q", c.name, ag.status, ae.Error, se.Error)
			compared++
			continue
		}
		var aa, sa batchAnswer
		if err := json.Unmarshal(ag.body, &aa); err != nil {
			t.Fatalf("%s: Agent's answer: %v: %s", c.name, err, ag.body)
		}
		strictDecode(t, sv.body, &sa)
		// Agent's own field names and nothing else, in serve's answer too.
		var agentKeys, serveKeys map[string]json.RawMessage
		_ = json.Unmarshal(ag.body, &agentKeys)
		_ = json.Unmarshal(sv.body, &serveKeys)
		if !reflect.DeepEqual(slices.Sorted(maps.Keys(agentKeys)), slices.Sorted(maps.Keys(serveKeys))) {
			t.Errorf("%s: fields: Agent %v, serve %v", c.name, slices.Sorted(maps.Keys(agentKeys)), slices.Sorted(maps.Keys(serveKeys)))
		}
		if aa.ErrorCount != sa.ErrorCount || len(aa.Response) != len(sa.Response) {
			t.Errorf("%s: Agent %d answers, errorCount %d; serve %d, %d", c.name, len(aa.Response), aa.ErrorCount, len(sa.Response), sa.ErrorCount)
		}
		byID := map[string]batchResp{}
		for _, r := range aa.Response {
			byID[r.OperationID] = r
		}
		for _, got := range sa.Response {
			want, ok := byID[got.OperationID]
			if !ok {
				t.Errorf("%s: operation %s: Agent has no answer", c.name, got.OperationID)
				continue
			}
			compared++
			if got.Status != want.Status || got.Method != want.Method || got.URL != want.URL {
				t.Errorf("%s: operation %s: Agent %d %s %s, serve %d %s %s\nAgent %s\nserve %s", c.name, got.OperationID,
					want.Status, want.Method, want.URL, got.Status, got.Method, got.URL, want.Body, got.Body)
			}
			if strings.HasPrefix(want.RequestID, "req-") && got.RequestID != want.RequestID {
				t.Errorf("%s: operation %s: requestID Agent %q, serve %q", c.name, got.OperationID, want.RequestID, got.RequestID)
			}
			if (want.StartedAt == "") != (got.StartedAt == "") || (want.EndedAt == "") != (got.EndedAt == "") {
				t.Errorf("%s: operation %s: times Agent %q %q, serve %q %q", c.name, got.OperationID, want.StartedAt, want.EndedAt, got.StartedAt, got.EndedAt)
			}
			var wb, gb any
			_ = json.Unmarshal(want.Body, &wb)
			_ = json.Unmarshal(got.Body, &gb)
			// Agent decides every flag, and builds the lists of its
			// OptimizelyConfig, in the order of a Go map's range.
			wb, gb = sortLists(wb), sortLists(gb)
			if got.OperationID == "cf" {
				// Agent's OptimizelyConfig names the SDK key when /v1/config
				// is the first request for it, and "" once decisions came
				// first (as here): seen, not serve's concern here.
				wm, _ := wb.(map[string]any)
				gm, _ := gb.(map[string]any)
				if wm != nil && gm != nil {
					t.Logf("%s: operation cf: sdkKey Agent %q, serve %q (not compared)", c.name, wm["sdkKey"], gm["sdkKey"])
					delete(wm, "sdkKey")
					delete(gm, "sdkKey")
				}
			}
			if reflect.DeepEqual(wb, gb) {
				continue
			}
			if e, isErr := gb.(map[string]any); wb == nil && isErr && len(e) == 1 && e["error"] != nil && got.Status >= 400 {
				t.Logf("%s: operation %s: %d; Agent's body null, serve's %s", c.name, got.OperationID, got.Status, got.Body)
				continue
			}
			t.Errorf("%s: operation %s (%d): bodies differ\nAgent %s\nserve %s", c.name, got.OperationID, got.Status, want.Body, got.Body)
		}
	}
	t.Logf("compared %d batches, %d answers of Agent (%s) and serve", len(cases), compared, bin)

	// What a batch saves: 100 decisions as one batch and as 100 requests,
	// over loopback, on each (medians of 15 rounds, interleaved).
	batch, singles := decideOps(100, "k1")
	for _, how := range []string{"batch", "singles", "singles-10-clients"} {
		took := map[string][]time.Duration{}
		for range 15 {
			for _, side := range []struct{ name, base string }{{"agent", agent}, {"serve", s.url}} {
				start := time.Now()
				hundredDecides(t, side.base, how, batch, singles)
				took[side.name] = append(took[side.name], time.Since(start))
			}
		}
		median := func(d []time.Duration) time.Duration { slices.Sort(d); return d[len(d)/2] }
		t.Logf("100 decisions as %s: Agent %v, serve %v", how, median(took["agent"]).Round(10*time.Microsecond), median(took["serve"]).Round(10*time.Microsecond))
	}
}

// sortLists sorts every list in v, at any depth, by the JSON of its
// elements: lists are compared as multisets.
func sortLists(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = sortLists(e)
		}
	case []any:
		keys := make([]string, len(v))
		for i, e := range v {
			v[i] = sortLists(e)
			b, _ := json.Marshal(v[i])
			keys[i] = string(b)
		}
		sort.Sort(byKey{v, keys})
	}
	return v
}

type byKey struct {
	v    []any
	keys []string
}

func (b byKey) Len() int           { return len(b.v) }
func (b byKey) Less(i, j int) bool { return b.keys[i] < b.keys[j] }
func (b byKey) Swap(i, j int) {
	b.v[i], b.v[j] = b.v[j], b.v[i]
	b.keys[i], b.keys[j] = b.keys[j], b.keys[i]
}
