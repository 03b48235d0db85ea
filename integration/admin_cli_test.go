package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cli "github.com/stickybucket/stickybucket/cmd/stickybucket/admin"
)

// cliConfig writes a configuration file for the test node with one
// environment keeping assignments two hours, except experiment "forever".
func cliConfig(t *testing.T, ks string) string {
	t.Helper()
	yaml := fmt.Sprintf(`environment: it
cassandra:
  hosts: [%s]
  port: %d
  connect_timeout: 10s
  timeout: 10s
environments:
  it:
    retention: 2h
    retention_overrides:
      forever: 0
    keyspace: %s
    replication: {class: SimpleStrategy, replication_factor: 1}
    read_consistency: LOCAL_ONE
    write_consistency: LOCAL_ONE
`, strings.Join(cass.Hosts(), ", "), cass.Port(), ks)
	path := filepath.Join(t.TempDir(), "stickybucket.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// cliResult is one in-process run of a command.
type cliResult struct {
	status         int
	stdout, stderr string
}

func runCLI(t *testing.T, stdin string, run func(ctx context.Context, stdin *strings.Reader, stdout, stderr *bytes.Buffer) int) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	status := run(context.Background(), strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{status, stdout.String(), stderr.String()}
}

func profilesCmd(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLI(t, stdin, func(ctx context.Context, in *strings.Reader, out, errOut *bytes.Buffer) int {
		return cli.Profiles(ctx, args, in, out, errOut)
	})
}

func TestAdminCommands(t *testing.T) {
	ks := keyspace(t, "cli")
	cfg := cliConfig(t, ks)

	for i := range 2 { // idempotent
		r := runCLI(t, "", func(ctx context.Context, _ *strings.Reader, out, errOut *bytes.Buffer) int {
			return cli.Migrate(ctx, []string{"--config", cfg}, out, errOut)
		})
		if r.status != 0 || !strings.Contains(r.stderr, "keyspace "+ks+" is migrated") {
			t.Fatalf("migrate #%d: status %d, stderr:\n%s", i+1, r.status, r.stderr)
		}
	}
	var tables int
	if err := admin.Query("SELECT COUNT(*) FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'assignments'", ks).Scan(&tables); err != nil || tables != 1 {
		t.Fatalf("assignments table after migrate: %d, %v", tables, err)
	}

	input := filepath.Join(t.TempDir(), "in.jsonl")
	lines := strings.Join([]string{
		`{"user_id": "cli-1", "experiment_bucket_map": {"1001": {"variation_id": "2001"}, "forever": {"variation_id": "h1"}}}`,
		`{"user_id": "cli-2", "experiment_bucket_map": {"1001": {"variation_id": "2002"}}}`,
		`{"user_id": "cli-3", "experiment_bucket_map": {"1001": {"variation_id": 2003}}}`,
		`{"user_id": "cli-4", "experiment_bucket_map": {"1001": {"variation_id": "2001"}, "1002": {"variation_id": "2004"}}}`,
	}, "\n") + "\n"
	if err := os.WriteFile(input, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	before := time.Now().Add(-time.Second)
	r := profilesCmd(t, "", "import", input, "--config", cfg)
	if r.status != 1 {
		t.Errorf("import with a bad line: status %d, want 1", r.status)
	}
	if !strings.Contains(r.stderr, "line 3: ") || !strings.Contains(r.stderr, "imported 3 profiles (5 assignments) from 4 lines") ||
		!strings.Contains(r.stderr, "; 1 bad lines, ") {
		t.Errorf("import stderr does not report line 3 and the summary:\n%s", r.stderr)
	}
	if n := rowCount(t, ks, "cli-3"); n != 0 {
		t.Errorf("the bad line wrote %d rows", n)
	}

	r = profilesCmd(t, "", "get", "--config", cfg, "cli-1")
	if r.status != 0 {
		t.Fatalf("get: status %d, stderr:\n%s", r.status, r.stderr)
	}
	var got struct {
		UserID    string `json:"user_id"`
		BucketMap map[string]struct {
			VariationID string     `json:"variation_id"`
			DecidedAt   *time.Time `json:"decided_at"`
			ExpiresAt   *time.Time `json:"expires_at"`
		} `json:"experiment_bucket_map"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("get printed %q: %v", r.stdout, err)
	}
	a, forever := got.BucketMap["1001"], got.BucketMap["forever"]
	if got.UserID != "cli-1" || len(got.BucketMap) != 2 || a.VariationID != "2001" || forever.VariationID != "h1" {
		t.Fatalf("get printed %s", r.stdout)
	}
	if a.DecidedAt == nil || a.DecidedAt.Before(before) || a.DecidedAt.After(time.Now()) {
		t.Errorf("decided_at %v, want the import's time", a.DecidedAt)
	}
	if a.ExpiresAt == nil || a.ExpiresAt.Sub(*a.DecidedAt) < 2*time.Hour-time.Minute || a.ExpiresAt.Sub(*a.DecidedAt) > 2*time.Hour+time.Minute {
		t.Errorf("expires_at %v, want two hours after decided_at %v", a.ExpiresAt, a.DecidedAt)
	}
	if forever.ExpiresAt != nil || !strings.Contains(r.stdout, `"expires_at": null`) {
		t.Errorf("an assignment kept forever printed expires_at %v, want null", forever.ExpiresAt)
	}

	exported := filepath.Join(t.TempDir(), "out.jsonl")
	r = profilesCmd(t, "", "export", "--config", cfg, "--out", exported, "--ranges", "16")
	if r.status != 0 || !strings.Contains(r.stderr, "exported 3 profiles (5 assignments) from 16 token ranges") {
		t.Fatalf("export: status %d, stderr:\n%s", r.status, r.stderr)
	}
	file, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	users, _ := parseExport(t, file)
	if len(users) != 3 || users["cli-4"]["1002"] != "2004" || users["cli-1"]["forever"] != "h1" {
		t.Errorf("export file holds %v", users)
	}
	r = profilesCmd(t, "", "export", "--config", cfg, "--consistency", "ONE")
	if r.status != 0 || !sameExport(t, []byte(r.stdout), file) {
		t.Errorf("export to stdout: status %d, %q; want the file's lines %q", r.status, r.stdout, file)
	}

	// The export imports cleanly from standard input, changing nothing.
	r = profilesCmd(t, string(file), "import", "-", "--config", cfg)
	if r.status != 0 || !strings.Contains(r.stderr, "imported 3 profiles (5 assignments) from 3 lines") {
		t.Errorf("re-import: status %d, stderr:\n%s", r.status, r.stderr)
	}
	if n := countRows(t, ks); n != 5 {
		t.Errorf("%d rows after re-import, want 5", n)
	}

	r = profilesCmd(t, "", "delete", "cli-1", "--config", cfg)
	if r.status != 0 || !strings.Contains(r.stderr, `deleted every assignment of user "cli-1"`) {
		t.Fatalf("delete: status %d, stderr:\n%s", r.status, r.stderr)
	}
	r = profilesCmd(t, "", "get", "cli-1", "--config", cfg)
	if r.status != 0 || !strings.Contains(r.stdout, `"experiment_bucket_map": {}`) || !strings.Contains(r.stderr, "no live assignments") {
		t.Errorf("get after delete: status %d, stdout %q, stderr %q", r.status, r.stdout, r.stderr)
	}
	if n := rowCount(t, ks, "cli-2"); n != 1 {
		t.Errorf("delete touched another user: cli-2 has %d rows", n)
	}
}
