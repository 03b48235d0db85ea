package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/integration/agentbuild"
)

// These helpers run Optimizely Agent (its HTTP decision service, built
// from source) next to `stickybucket serve`, so the tests can show that
// Agent's `rest` user profile service plugin works against serve's
// /v1/ups routes as they are.

var agentBuild struct {
	once sync.Once
	bin  string
	note string
	err  error
}

// agentBinary returns Agent's binary, built once per test binary and
// cached across runs by agentbuild. Without the source the test is
// skipped, or fails under CI=true.
func agentBinary(t *testing.T) string {
	t.Helper()
	first := false
	agentBuild.once.Do(func() {
		first = true
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		agentBuild.bin, agentBuild.note, agentBuild.err = agentbuild.Binary(ctx, "..") // the tests run in integration/
	})
	if errors.Is(agentBuild.err, agentbuild.ErrNoSource) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: set AGENT_SRC_TGZ or provide ../shared/anchors/agent/ next to the repository)", agentBuild.err)
		}
		t.Skipf("%v; set AGENT_SRC_TGZ to Agent's source tarball (%s) to run the Agent tests", agentBuild.err, agentbuild.TarballName)
	}
	if agentBuild.err != nil {
		t.Fatal(agentBuild.err)
	}
	if first {
		t.Log(agentBuild.note)
	}
	return agentBuild.bin
}

// agentSDKKey is the one SDK key of the tests: every Agent decides for the
// same project, each from the datafile revision its URL template names.
const agentSDKKey = "sticky_project"

// datafileServer serves examples/datafile-<rev>.json as
// /<rev>/<agentSDKKey>.json and takes Agent's events, like the CDN and the
// event endpoint Agent talks to in production.
type datafileServer struct {
	srv    *httptest.Server
	events atomic.Int64
}

func startDatafileServer(t *testing.T, revisions ...string) *datafileServer {
	t.Helper()
	files := map[string][]byte{}
	for _, rev := range revisions {
		b, err := os.ReadFile("../examples/datafile-" + rev + ".json")
		if err != nil {
			t.Fatal(err)
		}
		files["/"+rev+"/"+agentSDKKey+".json"] = b
	}
	d := &datafileServer{}
	d.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			_, _ = io.Copy(io.Discard, r.Body)
			d.events.Add(1)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		b, ok := files[r.URL.Path]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}))
	t.Cleanup(d.srv.Close)
	return d
}

// template is Agent's client.datafileURLTemplate for revision rev.
func (d *datafileServer) template(rev string) string { return d.srv.URL + "/" + rev + "/%s.json" }

// restUPS points Agent's rest plugin at a stickybucket.
type restUPS struct {
	host, token string
	// savePath defaults to /v1/ups/save.
	savePath string
}

// agentConfig is Agent's config.yaml for the tests: loopback ports, the
// datafile server, events to its sink, ODP off, and the rest plugin on
// stickybucket (ups not nil) or Agent's in-memory profile service.
func agentConfig(api, admin, webhook int, datafileURLTemplate, eventURL string, ups *restUPS) string {
	profiles := `    default: "in-memory"
    services:
      in-memory:
        capacity: 0
        storageStrategy: "fifo"`
	if ups != nil {
		save := ups.savePath
		if save == "" {
			save = "/v1/ups/save"
		}
		profiles = fmt.Sprintf(`    default: "rest"
    services:
      rest:
        host: %q
        lookupPath: "/v1/ups/lookup"
        savePath: %q
        headers:
          Authorization: "Bearer %s"`, ups.host, save, ups.token)
	}
	return fmt.Sprintf(`log:
  level: info
server:
  host: 127.0.0.1
api:
  port: "%d"
admin:
  port: "%d"
webhook:
  port: "%d"
client:
  datafileURLTemplate: %q
  eventURL: %q
  pollingInterval: 10m
  odp:
    disable: true
  userProfileService:
%s
`, api, admin, webhook, datafileURLTemplate, eventURL, profiles)
}

// agentProcess is one running Optimizely Agent.
type agentProcess struct {
	name       string
	cmd        *exec.Cmd
	api, admin string
	out        lockedBuffer
	exited     chan struct{}
}

// lockedBuffer holds a process's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startAgent starts Agent with the datafile of revision rev and, unless ups
// is nil, the rest plugin on stickybucket. Agent takes fixed ports, so it
// gets free ones; should another process take one first, Agent exits and
// is started again (three attempts).
func startAgent(t *testing.T, bin, name string, d *datafileServer, rev string, ups *restUPS) *agentProcess {
	t.Helper()
	var last string
	for attempt := 0; attempt < 3; attempt++ {
		ports, err := freePorts(3)
		if err != nil {
			t.Fatal(err)
		}
		conf := filepath.Join(t.TempDir(), "agent.yaml")
		yaml := agentConfig(ports[0], ports[1], ports[2], d.template(rev), d.srv.URL+"/events", ups)
		if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		a := &agentProcess{
			name:   name,
			api:    "http://127.0.0.1:" + strconv.Itoa(ports[0]),
			admin:  "http://127.0.0.1:" + strconv.Itoa(ports[1]),
			exited: make(chan struct{}),
		}
		a.cmd = exec.Command(bin)
		a.cmd.Env = append(agentEnv(), "OPTIMIZELY_CONFIG_FILENAME="+conf)
		a.cmd.Stdout, a.cmd.Stderr = &a.out, &a.out
		if err := a.cmd.Start(); err != nil {
			t.Fatalf("start agent %s: %v", name, err)
		}
		go func() {
			_ = a.cmd.Wait()
			close(a.exited)
		}()
		t.Cleanup(func() { a.stop(t) })
		switch err := a.waitReady(30 * time.Second); {
		case err == nil:
			return a
		case errors.Is(err, errAgentExited):
			last = fmt.Sprintf("%v\n%s", err, a.out.String())
			continue
		default:
			t.Fatalf("agent %s: %v\n%s", name, err, a.out.String())
		}
	}
	t.Fatalf("agent %s did not start in three attempts; last:\n%s", name, last)
	return nil
}

// agentEnv is the test's environment without OPTIMIZELY_* variables, which
// would override Agent's configuration file.
func agentEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "OPTIMIZELY_") })
}

var errAgentExited = errors.New("agent exited")

// waitReady polls Agent's admin /health, bounded by limit.
func (a *agentProcess) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		res, err := httpClient.Get(a.admin + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-a.exited:
			return fmt.Errorf("%w before it was ready: %v", errAgentExited, a.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v", limit)
		}
	}
}

// stop sends SIGTERM and waits for Agent to exit (it flushes its events),
// killing it after ten seconds.
func (a *agentProcess) stop(t *testing.T) {
	select {
	case <-a.exited:
		return
	default:
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		t.Logf("agent %s did not stop within 10s of SIGTERM; killed", a.name)
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// freePorts returns n loopback ports free at the time of the call.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// httpClient keeps connections alive for the tests' sequential and
// concurrent requests alike.
var httpClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: time.Minute},
}

// call sends a JSON request and returns the status and body.
func call(ctx context.Context, method, url string, header http.Header, body string) (int, []byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, nil, fmt.Errorf("%s %s: read the answer: %w", method, url, err)
	}
	return res.StatusCode, b, nil
}

// mustCall is call that fails the test unless the status is want.
func mustCall(t *testing.T, want int, method, url string, header http.Header, body string) []byte {
	t.Helper()
	code, b, err := call(context.Background(), method, url, header, body)
	if err != nil {
		t.Fatal(err)
	}
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, url, code, b, want)
	}
	return b
}

// agentUser is the user of the tests' decisions.
func agentUser(id string, options ...string) string {
	b, _ := json.Marshal(map[string]any{
		"userId":         id,
		"userAttributes": map[string]string{"plan": "pro", "app_version": "3.2.0", "country": "de"},
		"decideOptions":  append([]string{}, options...),
	})
	return string(b)
}

var agentHeader = http.Header{"X-Optimizely-Sdk-Key": {agentSDKKey}}

// agentDecision is the part of Agent's /v1/decide answer the tests read.
type agentDecision struct {
	FlagKey, RuleKey, VariationKey string
	Enabled                        bool
}

func (d agentDecision) String() string { return d.RuleKey + "/" + d.VariationKey }

// decide decides flag new_search for user on Agent.
func (a *agentProcess) decide(ctx context.Context, user string, options ...string) (agentDecision, error) {
	code, b, err := call(ctx, http.MethodPost, a.api+"/v1/decide?keys=new_search", agentHeader, agentUser(user, options...))
	if err != nil {
		return agentDecision{}, fmt.Errorf("agent %s: decide: %w", a.name, err)
	}
	if code != http.StatusOK {
		return agentDecision{}, fmt.Errorf("agent %s: decide %s: %d %s", a.name, user, code, b)
	}
	var d agentDecision
	if err := json.Unmarshal(b, &d); err != nil {
		return agentDecision{}, fmt.Errorf("agent %s: decide %s: parse %s: %w", a.name, user, b, err)
	}
	if d.FlagKey != "new_search" || d.RuleKey == "" || d.VariationKey == "" {
		return agentDecision{}, fmt.Errorf("agent %s: decide %s: no experiment decision in %s", a.name, user, b)
	}
	return d, nil
}

func (a *agentProcess) mustDecide(t *testing.T, user string, options ...string) agentDecision {
	t.Helper()
	d, err := a.decide(context.Background(), user, options...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lookup is Agent's own POST /v1/lookup: the profile its profile service
// returns, as experiment ID -> variation ID.
func (a *agentProcess) lookup(t *testing.T, user string) map[string]string {
	t.Helper()
	var p struct {
		UserID              string `json:"userId"`
		ExperimentBucketMap map[string]struct {
			VariationID string `json:"variation_id"`
		} `json:"experimentBucketMap"`
	}
	b := mustCall(t, http.StatusOK, http.MethodPost, a.api+"/v1/lookup", agentHeader, fmt.Sprintf(`{"userId":%q}`, user))
	if err := json.Unmarshal(b, &p); err != nil || p.UserID != user {
		t.Fatalf("agent %s: lookup %s: %s (%v)", a.name, user, b, err)
	}
	out := map[string]string{}
	for exp, e := range p.ExperimentBucketMap {
		out[exp] = e.VariationID
	}
	return out
}

// activate is Agent's legacy experiment decision for checkout_button,
// which looks the whole profile up and saves it whole with the new entry.
func (a *agentProcess) activate(t *testing.T, user string) string {
	t.Helper()
	var ds []struct{ VariationKey string }
	b := mustCall(t, http.StatusOK, http.MethodPost, a.api+"/v1/activate?experimentKey=checkout_button", agentHeader, fmt.Sprintf(`{"userId":%q}`, user))
	if err := json.Unmarshal(b, &ds); err != nil || len(ds) != 1 || ds[0].VariationKey == "" {
		t.Fatalf("agent %s: activate %s: %s (%v)", a.name, user, b, err)
	}
	return ds[0].VariationKey
}

// sticky is `stickybucket serve` on the test node with an API token.
type sticky struct {
	*serveProcess
	ks, token string
}

func (s *sticky) auth() http.Header {
	return http.Header{"Authorization": {"Bearer " + s.token}}
}

// profile is serve's GET /v1/ups/lookup: experiment ID -> variation ID.
func (s *sticky) profile(t *testing.T, user string) map[string]string {
	t.Helper()
	var p struct {
		UserID              string `json:"user_id"`
		ExperimentBucketMap map[string]struct {
			VariationID string `json:"variation_id"`
		} `json:"experiment_bucket_map"`
	}
	b := mustCall(t, http.StatusOK, http.MethodGet, s.API+"/v1/ups/lookup?user_id="+user, s.auth(), "")
	if err := json.Unmarshal(b, &p); err != nil || p.UserID != user {
		t.Fatalf("serve: lookup %s: %s (%v)", user, b, err)
	}
	out := map[string]string{}
	for exp, e := range p.ExperimentBucketMap {
		out[exp] = e.VariationID
	}
	return out
}

// storedRow is one assignment as Cassandra holds it.
type storedRow struct {
	variation      string
	ttl            int
	writetimeMicro int64
}

// storedRows reads a user's assignments straight from Cassandra, with
// their TTL and write time, by experiment ID.
func storedRows(t *testing.T, ks, user string) map[string]storedRow {
	t.Helper()
	iter := admin.Query("SELECT experiment_id, variation_id, TTL(variation_id), WRITETIME(variation_id) FROM "+ks+".assignments WHERE user_id = ?", user).Iter()
	out := map[string]storedRow{}
	var (
		exp string
		r   storedRow
	)
	for iter.Scan(&exp, &r.variation, &r.ttl, &r.writetimeMicro) {
		out[exp] = r
	}
	if err := iter.Close(); err != nil {
		t.Fatalf("read %s's assignments: %v", user, err)
	}
	return out
}

// variationIDs maps the variation keys of examples/datafile-v1.json's
// experiment expKey to their IDs, and returns the experiment's ID.
func variationIDs(t *testing.T, expKey string) (string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	var df struct {
		Experiments []struct {
			ID, Key    string
			Variations []struct{ ID, Key string }
		}
	}
	if err := json.Unmarshal(b, &df); err != nil {
		t.Fatal(err)
	}
	for _, e := range df.Experiments {
		if e.Key == expKey {
			ids := map[string]string{}
			for _, v := range e.Variations {
				ids[v.Key] = v.ID
			}
			return e.ID, ids
		}
	}
	t.Fatalf("no experiment %s in datafile-v1.json", expKey)
	return "", nil
}
