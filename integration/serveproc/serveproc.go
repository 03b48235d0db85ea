// Package serveproc runs `stickybucket serve` as users deploy it — a
// separate process of the built binary — for the integration tests: build
// the binary once, start processes on free loopback ports, talk to their
// API and admin listeners, read their metrics, stop them.
package serveproc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build builds the stickybucket command of this module into a temporary
// directory of tb and returns its path.
func Build(tb testing.TB) string {
	tb.Helper()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		tb.Fatalf("serveproc: find the module root: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "stickybucket")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/stickybucket")
	cmd.Dir = strings.TrimSpace(string(root))
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("serveproc: build stickybucket: %v\n%s", err, out)
	}
	return bin
}

// Process is one running `stickybucket serve`.
type Process struct {
	// API and Admin are the base URLs of its listeners.
	API, Admin string

	cmd    *exec.Cmd
	mu     sync.Mutex
	log    bytes.Buffer
	exited chan struct{}
	client *http.Client
}

// Start runs `bin serve` on free loopback ports with args (a --config, the
// datafiles) and returns once it logs "ready to serve". The process is
// killed at the end of tb if it still runs.
func Start(tb testing.TB, bin string, args ...string) *Process {
	tb.Helper()
	p := &Process{exited: make(chan struct{}), client: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
	}}
	p.cmd = exec.Command(bin, append([]string{"serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"}, args...)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	ready := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.log.Write(sc.Bytes())
			p.log.WriteByte('\n')
			p.mu.Unlock()
			var line struct {
				Msg    string   `json:"msg"`
				Listen []string `json:"listen"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "ready to serve" {
				ready <- line.Listen
			}
		}
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	select {
	case addrs := <-ready:
		p.API, p.Admin = "http://"+addrs[0], "http://"+addrs[1]
	case <-p.exited:
		tb.Fatalf("serveproc: serve exited before it was ready: %v\n%s", p.cmd.ProcessState, p.Logs())
	case <-time.After(2 * time.Minute):
		tb.Fatalf("serveproc: serve was not ready within 2 minutes\n%s", p.Logs())
	}
	return p
}

// Logs returns what the process logged so far.
func (p *Process) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Stop sends SIGTERM and returns the exit status once the process ended,
// failing tb if it does not within limit.
func (p *Process) Stop(tb testing.TB, limit time.Duration) int {
	tb.Helper()
	if err := p.Signal(syscall.SIGTERM); err != nil {
		tb.Fatal(err)
	}
	return p.Wait(tb, limit)
}

// Signal sends sig to the process, for a test that does something between
// the signal and the exit (Wait).
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("serveproc: signal %v to %s: %w", sig, p, err)
	}
	return nil
}

// Wait returns the exit status once the process ended, failing tb if it
// does not within limit.
func (p *Process) Wait(tb testing.TB, limit time.Duration) int {
	tb.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		tb.Fatalf("serveproc: serve did not stop within %v\n%s", limit, p.Logs())
		return -1
	}
}

// Post sends a JSON body to the API and returns the status and body.
func (p *Process) Post(path, body string) (int, []byte, error) {
	res, err := p.client.Post(p.API+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// Metrics returns the admin listener's /metrics text.
func (p *Process) Metrics(tb testing.TB) string {
	tb.Helper()
	res, err := p.client.Get(p.Admin + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// Metric returns the value of the sample named series (a metric name with
// its labels as /metrics writes them, such as
// `stickybucket_decisions_without_profile_total{reason="over_budget"}`),
// and false when the process exposes no such sample.
func (p *Process) Metric(tb testing.TB, series string) (float64, bool) {
	tb.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(p.Metrics(tb))
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		tb.Fatalf("serveproc: metric %s: %v", series, err)
	}
	return v, true
}

// Ready returns the status and body of the admin listener's /ready.
func (p *Process) Ready(tb testing.TB) (int, string) {
	tb.Helper()
	res, err := p.client.Get(p.Admin + "/ready")
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// WriteConfig writes yaml to a file in a temporary directory of tb and
// returns its path.
func WriteConfig(tb testing.TB, yaml string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "stickybucket.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// String names the process in messages.
func (p *Process) String() string { return fmt.Sprintf("serve at %s", p.API) }
