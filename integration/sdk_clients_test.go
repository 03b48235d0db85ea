package integration

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/integration/serveproc"
)

// The official SDKs with stickybucket's clients (clients/python,
// clients/js) and Optimizely Agent with its rest plugin, all on one
// Cassandra through two `serve` processes: what a fleet of mixed services
// does when it moves to stickybucket.

// sdkDecision is one line a driver of integration/testdata/sdk writes.
type sdkDecision struct {
	UserID    string `json:"user_id"`
	Variation string `json:"variation"`
	Rule      string `json:"rule"`
	Enabled   bool   `json:"enabled"`
}

// pythonClient makes a venv with the Python client (pip install
// clients/python, at the versions of its constraints.txt) and returns its
// python.
func pythonClient(t *testing.T) string {
	t.Helper()
	venv := filepath.Join(t.TempDir(), "venv")
	runCmd(t, "", "python3", "-m", "venv", venv)
	py := filepath.Join(venv, "bin", "python")
	runCmd(t, "", py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
		"-c", "../clients/python/constraints.txt", "../clients/python")
	return py
}

// jsClient installs the Node client's dependencies (npm ci in clients/js)
// unless they are there, and returns the directory.
func jsClient(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../clients/js")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@optimizely", "optimizely-sdk", "package.json")); err != nil {
		runCmd(t, dir, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	}
	return dir
}

func runCmd(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// sdkDecide runs one SDK driver over requests: the users decide flag
// new_search with the attributes of the example's audience.
func sdkDecide(t *testing.T, driver []string, env []string, users []string) map[string]sdkDecision {
	t.Helper()
	var in bytes.Buffer
	for _, u := range users {
		fmt.Fprintf(&in, `{"user_id":%q,"flag":"new_search","attributes":{"plan":"pro","app_version":"3.2.0","country":"de"}}`+"\n", u)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, driver[0], driver[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(driver, " "), err, stderr.String())
	}
	got := map[string]sdkDecision{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var d sdkDecision
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			t.Fatalf("%s: line %q: %v", driver[0], sc.Text(), err)
		}
		if d.Rule != "search_experiment" {
			t.Fatalf("%s: %+v is not a decision of search_experiment", driver[0], d)
		}
		got[d.UserID] = d
	}
	if len(got) != len(users) {
		t.Fatalf("%s: %d decisions for %d users\n%s", driver[0], len(got), len(users), stderr.String())
	}
	return got
}

// TestSDKClientsShareAssignments: the Python SDK with stickybucket's
// client decides users through serve A (datafile v1); the Node SDK through
// serve B after the datafile changed (v2, which buckets every one of them
// into the other variation) serves the very same variations, and so does
// Optimizely Agent (v2) with its rest plugin on B. The rows the Python SDK
// wrote through /v1/ups/save carry the retention as TTL. After a user's
// profile is deleted, Node buckets the user afresh (v2) and Python then
// serves Node's new assignment.
func TestSDKClientsShareAssignments(t *testing.T) {
	py, jsDir := pythonClient(t), jsClient(t)
	bin := serveproc.Build(t)
	agentBin := agentBinary(t)
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(raw)
	ks := keyspace(t, "sdk_clients")
	t.Setenv("STICKYBUCKET_RETENTION", agentRetentionEnv)
	// A one-second cache: a delete on one serve reaches the other's cache
	// when its entry expires (cache.ttl, 10s by default).
	cfg := serveConfig(t, ks, fmt.Sprintf("store: {kind: cassandra, cache: {ttl: 1s}}\nserver: {tokens: [%q]}", token))
	a := startServe(t, bin, "--config", cfg, "--migrate", "--datafile", "k="+datafileCopy(t, "datafile-v1.json"))
	b := startServe(t, bin, "--config", cfg, "--datafile", "k="+datafileCopy(t, "datafile-v2.json"))
	v1, _ := filepath.Abs("../examples/datafile-v1.json")
	v2, _ := filepath.Abs("../examples/datafile-v2.json")
	python := func(p *serveProcess, datafile string, users ...string) map[string]sdkDecision {
		return sdkDecide(t, []string{py, "testdata/sdk/decide.py", p.API, token, datafile}, nil, users)
	}
	node := func(p *serveProcess, datafile string, users ...string) map[string]sdkDecision {
		return sdkDecide(t, []string{"node", "testdata/sdk/decide.mjs", p.API, token, datafile}, []string{"STICKYBUCKET_JS_DIR=" + jsDir}, users)
	}

	users := make([]string, 60)
	for i := range users {
		users[i] = fmt.Sprintf("sdk-user-%03d", i)
	}
	onA := python(a, v1, users...)
	onB := node(b, v2, users...)
	df := startDatafileServer(t, "v2")
	ag := startAgent(t, agentBin, "agent", df, "v2", &restUPS{host: b.API, token: token})
	auth := http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}}
	moved := 0
	for _, u := range users {
		if onB[u].Variation != onA[u].Variation {
			t.Errorf("%s: the Python SDK (v1, serve A) assigned %s, the Node SDK (v2, serve B) serves %s", u, onA[u].Variation, onB[u].Variation)
		}
		if got := ag.mustDecide(t, u); got.VariationKey != onA[u].Variation {
			t.Errorf("%s: the Python SDK assigned %s, Agent (v2, rest plugin on serve B) serves %s", u, onA[u].Variation, got.VariationKey)
		}
		var fresh struct{ VariationKey string }
		body := fmt.Sprintf(`{"userId":%q,"userAttributes":{"plan":"pro","app_version":"3.2.0","country":"de"},"decideOptions":["IGNORE_USER_PROFILE_SERVICE"]}`, u)
		if err := json.Unmarshal(mustCall(t, http.StatusOK, http.MethodPost, b.API+"/v1/decide?keys=new_search", auth, body), &fresh); err != nil {
			t.Fatal(err)
		}
		if fresh.VariationKey != onA[u].Variation {
			moved++
		}
	}
	if moved < len(users) {
		t.Fatalf("only %d of %d users would change variation on v2 without profiles: the test shows too little", moved, len(users))
	}

	// The rows the Python SDK's saves wrote, with the retention as TTL.
	waitFor(t, 30*time.Second, "serve A's pending saves written", func() bool { return a.metric(t, "stickybucket_async_pending") == 0 })
	expID, ids := variationIDs(t, "search_experiment")
	full := int(agentRetention / time.Second)
	for _, u := range users {
		r, ok := storedRows(t, ks, u)[expID]
		if !ok || r.variation != ids[onA[u].Variation] || r.ttl < full-120 || r.ttl > full {
			t.Fatalf("%s: Cassandra holds %+v, want %s with a TTL within 2 minutes of %d s", u, r, ids[onA[u].Variation], full)
		}
	}

	// Erased: Node (v2) buckets afresh, and Python (v1) follows it.
	u := users[0]
	mustCall(t, http.StatusNoContent, http.MethodDelete, a.API+"/v1/profiles/"+u, auth, "")
	time.Sleep(1500 * time.Millisecond) // B's cached copy expires (cache.ttl 1s) on the wall clock
	again := node(b, v2, u)[u]
	if again.Variation == onA[u].Variation {
		t.Fatalf("%s after the delete: Node serves %s again; v2 buckets it elsewhere", u, again.Variation)
	}
	waitFor(t, 30*time.Second, "serve B's pending saves written", func() bool { return b.metric(t, "stickybucket_async_pending") == 0 })
	if got := python(a, v1, u)[u]; got.Variation != again.Variation {
		t.Errorf("%s after the delete: Node assigned %s, Python (v1) serves %s", u, again.Variation, got.Variation)
	}
	t.Logf("%d users: Python (v1, serve A) assigned, Node (v2, serve B) and Agent (v2, serve B) served the same %d of %d; %d would have moved without profiles",
		len(users), len(users), len(users), moved)
}
