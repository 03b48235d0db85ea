package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestOneRequestStaysWithinItsBound runs serve as a process and sends it
// the requests that used to take gigabytes — a megabyte of attributes
// with thousands of keys, each answer echoing the attributes — and the
// largest answer it accepts; the process's peak resident memory stays
// within 256 MB of what it held idle.
func TestOneRequestStaysWithinItsBound(t *testing.T) {
	if testing.Short() {
		t.Skip("runs serve and sends it megabytes")
	}
	cfg := t.TempDir() + "/stickybucket.yaml"
	if err := os.WriteFile(cfg, []byte("server: {max_body_bytes: 2097152}\nenvironments: {development: {replication: {class: SimpleStrategy, replication_factor: 1}}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "serve", "--config", cfg, "--listen", "127.0.0.1:0", "--admin-listen", "off",
		"--datafile", "k=../../examples/datafile-v1.json")
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	api := ""
	var logged []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		logged = append(logged, sc.Text())
		var rec struct {
			Msg    string   `json:"msg"`
			Listen []string `json:"listen"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "ready to serve" {
			api = "http://" + rec.Listen[0]
			break
		}
	}
	if api == "" {
		t.Fatalf("serve did not get ready:\n%s", strings.Join(logged, "\n"))
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()

	idle := residentKB(t, cmd.Process.Pid, "VmRSS")
	attrs := `{"blob":"` + strings.Repeat("x", 1<<20) + `"}`
	body := `{"userId":"u","userAttributes":` + attrs + `}`
	post := func(keys int) (int, int64) {
		var q strings.Builder
		q.WriteString("/v1/decide")
		for i := range keys {
			if i == 0 {
				q.WriteString("?")
			} else {
				q.WriteString("&")
			}
			fmt.Fprintf(&q, "keys=k%d", i)
		}
		res, err := http.Post(api+q.String(), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		n, _ := io.Copy(io.Discard, res.Body)
		return res.StatusCode, n
	}
	if status, _ := post(2000); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("2,000 keys with 1 MB of attributes: status %d, want 413", status)
	}
	status, n := post(15) // about 15 MB of answer: within the 16 MiB bound
	if status != 200 || n < 15<<20 {
		t.Fatalf("15 keys with 1 MB of attributes: status %d, %d bytes", status, n)
	}
	peak := residentKB(t, cmd.Process.Pid, "VmHWM")
	t.Logf("idle %d MB, peak %d MB after both requests", idle/1024, peak/1024)
	if peak-idle > 256*1024 {
		t.Fatalf("peak resident memory %d MB, %d MB above idle; the bound is 256 MB", peak/1024, (peak-idle)/1024)
	}
}

// residentKB reads a memory field (VmRSS, VmHWM) of /proc/pid/status.
func residentKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte(field+":")); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(rest)), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("%s not in /proc/%d/status", field, pid)
	return 0
}
