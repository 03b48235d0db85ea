package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/integration/serveproc"
)

// These tests run `stickybucket serve` as users deploy it: separate
// processes of the built binary, sharing the test node through the
// Cassandra store.

// serveConfig writes a configuration for the test node and keyspace ks,
// with the store section given as YAML.
func serveConfig(t *testing.T, ks, store string) string {
	t.Helper()
	var repl string
	if replication.Class == "SimpleStrategy" {
		repl = fmt.Sprintf("{class: SimpleStrategy, replication_factor: %d}", replication.ReplicationFactor)
	} else {
		var dcs []string
		for dc, rf := range replication.Datacenters {
			dcs = append(dcs, fmt.Sprintf("%s: %d", dc, rf))
		}
		repl = fmt.Sprintf("{class: NetworkTopologyStrategy, datacenters: {%s}}", strings.Join(dcs, ", "))
	}
	local := ""
	if localDC != "" {
		local = "\n    local_dc: " + localDC
	}
	hosts := strings.Join(cass.Hosts(), ", ")
	yaml := fmt.Sprintf(`environment: it
cassandra:
  hosts: [%s]
  port: %d
  timeout: 5s
  connect_timeout: 10s
environments:
  it:
    retention: 1h
    keyspace: %s
    replication: %s
    read_consistency: LOCAL_ONE
    write_consistency: LOCAL_ONE%s
log: {level: info, format: json}
%s
`, hosts, cass.Port(), ks, repl, local, store)
	return serveproc.WriteConfig(t, yaml)
}

// serveProcess is one running `stickybucket serve` (serveproc's), with
// the requests these tests make of it.
type serveProcess struct{ *serveproc.Process }

func startServe(t *testing.T, bin string, args ...string) *serveProcess {
	t.Helper()
	return &serveProcess{serveproc.Start(t, bin, args...)}
}

func (p *serveProcess) post(t *testing.T, path, body string) []byte {
	t.Helper()
	code, b, err := p.Post(path, body)
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", path, code, b)
	}
	return b
}

// variation decides flag new_search for user and returns the rule and
// variation served, with the given decide options.
func (p *serveProcess) variation(t *testing.T, user string, options ...string) string {
	t.Helper()
	opts, _ := json.Marshal(options)
	var d struct{ VariationKey, RuleKey string }
	b := p.post(t, "/v1/decide?keys=new_search", fmt.Sprintf(`{"userId":%q,"userAttributes":{"plan":"pro"},"decideOptions":%s}`, user, opts))
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d.RuleKey + "/" + d.VariationKey
}

// activate decides experiment checkout_button for user.
func (p *serveProcess) activate(t *testing.T, user string) string {
	t.Helper()
	var ds []struct{ VariationKey string }
	if err := json.Unmarshal(p.post(t, "/v1/activate?experimentKey=checkout_button", fmt.Sprintf(`{"userId":%q}`, user)), &ds); err != nil || len(ds) != 1 {
		t.Fatalf("activate: %v %v", ds, err)
	}
	return ds[0].VariationKey
}

func (p *serveProcess) metric(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := p.Metric(t, name)
	if !ok {
		t.Fatalf("metric %s not exposed", name)
	}
	return v
}

// waitFor polls cond, bounded by limit: for outcomes another process
// produces (a reload, a write), not for interleavings.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (p *serveProcess) revision(t *testing.T) string {
	t.Helper()
	res, err := http.Get(p.API + "/v1/config")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct{ Revision string }
	_ = json.NewDecoder(res.Body).Decode(&c)
	return c.Revision
}

func datafileCopy(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "datafile.json")
	replaceFile(t, "../examples/"+name, path)
	return path
}

// replaceFile writes from's content to path by rename, as deployments do.
func replaceFile(t *testing.T, from, path string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func rowsOf(t *testing.T, ks, user string) map[string]string {
	t.Helper()
	iter := admin.Query("SELECT experiment_id, variation_id FROM "+ks+".assignments WHERE user_id = ?", user).Iter()
	out := map[string]string{}
	var e, v string
	for iter.Scan(&e, &v) {
		out[e] = v
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestServeSharesAssignmentsThroughCassandra: two service processes share
// one Cassandra. Users decided on the first keep their variation on the
// second after the datafile changes on both; a delete on one makes the
// other bucket the user afresh.
func TestServeSharesAssignmentsThroughCassandra(t *testing.T) {
	bin := serveproc.Build(t)
	ks := keyspace(t, "serve_share")
	cfg := serveConfig(t, ks, "store: {kind: cassandra, budget: 2s, saves: {mode: async}, cache: {size: 0}}")
	dfA, dfB := datafileCopy(t, "datafile-v1.json"), datafileCopy(t, "datafile-v1.json")
	a := startServe(t, bin, "--config", cfg, "--migrate", "--datafile", "k="+dfA)
	b := startServe(t, bin, "--config", cfg, "--datafile", "k="+dfB)

	const n = 60
	users := make([]string, n)
	onA := map[string]string{}
	for i := range users {
		users[i] = fmt.Sprintf("serve-user-%03d", i)
		onA[users[i]] = a.variation(t, users[i])
	}
	waitFor(t, 30*time.Second, "the first process's saves written", func() bool {
		return a.metric(t, "stickybucket_async_pending") == 0 && len(rowsOf(t, ks, users[n-1])) == 1
	})

	replaceFile(t, "../examples/datafile-v2.json", dfA)
	replaceFile(t, "../examples/datafile-v2.json", dfB)
	waitFor(t, 30*time.Second, "both processes on revision 2", func() bool { return a.revision(t) == "2" && b.revision(t) == "2" })

	var movers []string
	for _, u := range users {
		if got := b.variation(t, u); got != onA[u] {
			t.Errorf("%s: %s on the second process after the datafile change, %s on the first before", u, got, onA[u])
		}
		if fresh := b.variation(t, u, "IGNORE_USER_PROFILE_SERVICE"); fresh != onA[u] {
			movers = append(movers, u)
		}
	}
	if len(movers) == 0 {
		t.Fatal("no user would change variation under datafile v2 without profiles: the test shows nothing")
	}
	t.Logf("%d of %d users kept a variation that datafile v2 alone would have changed", len(movers), n)

	// Erase one of them through the first process: the second (no cache)
	// buckets the user afresh.
	u := movers[0]
	req, _ := http.NewRequest(http.MethodDelete, a.API+"/v1/profiles/"+u, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", res.StatusCode)
	}
	fresh := b.variation(t, u, "IGNORE_USER_PROFILE_SERVICE")
	if got := b.variation(t, u); got != fresh {
		t.Errorf("%s after delete: %s on the second process, want the fresh %s", u, got, fresh)
	}
	for _, p := range []*serveProcess{a, b} {
		if code := p.Stop(t, time.Minute); code != 0 {
			t.Errorf("exit status %d after SIGTERM\n%s", code, p.Logs())
		}
	}
}

// TestServeDrainsQueuedSavesOnSIGTERM: with Cassandra paused, decisions
// served from the cache queue their saves; SIGTERM then waits for them
// (the node comes back meanwhile) and loses none.
func TestServeDrainsQueuedSavesOnSIGTERM(t *testing.T) {
	if !cass.Managed() {
		t.Skip("CASSANDRA_HOSTS names an existing cluster; this test pauses the node it would start")
	}
	bin := serveproc.Build(t)
	ks := keyspace(t, "serve_drain")
	cfg := serveConfig(t, ks, `store:
  kind: cassandra
  budget: 2s
  cache: {size: 1000, ttl: 10m}
  saves: {mode: async, workers: 2, retry_for: 3m}
  breaker: {failures: 3, open_for: 1s}
server: {shutdown_timeout: 3m}`)
	p := startServe(t, bin, "--config", cfg, "--migrate", "--datafile", "k="+datafileCopy(t, "datafile-v1.json"))

	const n = 30
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("drain-user-%03d", i)
		p.variation(t, users[i]) // reads the profile into the cache and saves one assignment
	}
	waitFor(t, 30*time.Second, "the first saves written", func() bool { return p.metric(t, "stickybucket_async_pending") == 0 })

	ctx := context.Background()
	if err := cass.Node(0).Pause(ctx); err != nil {
		t.Fatal(err)
	}
	paused := true
	defer func() {
		if paused {
			_ = cass.Node(0).Unpause(ctx)
		}
	}()
	served := map[string]string{}
	for _, u := range users {
		served[u] = p.activate(t, u) // a cache hit: decided at once, saved later
	}
	if pending := p.metric(t, "stickybucket_async_pending"); pending == 0 {
		t.Fatal("no save is pending with the node paused: the test shows nothing")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // a real outage lasting a while, not an interleaving
	if err := cass.Node(0).Unpause(ctx); err != nil {
		t.Fatal(err)
	}
	paused = false
	if code := p.Wait(t, 3*time.Minute); code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.Logs())
	}
	variations := map[string]string{"control": "4001", "green": "4002"}
	for _, u := range users {
		if got, want := rowsOf(t, ks, u)["3001"], variations[served[u]]; got != want {
			t.Errorf("%s: checkout_button stored %q, served %s (%s)", u, got, served[u], want)
		}
	}
}
