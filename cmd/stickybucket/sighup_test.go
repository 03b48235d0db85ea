package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestServeReloadsOnSIGHUP: SIGHUP makes serve reload its datafiles and
// go on serving (it used to stop, exit status 0, leaving nothing
// serving); SIGTERM then stops it with status 0.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	datafile := filepath.Join(dir, "datafile.json")
	copyFile(t, "../../examples/datafile-v1.json", datafile)
	cmd := exec.Command(os.Args[0], "serve", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--datafile", "k="+datafile)
	cmd.Env = append(os.Environ(), envRunMain+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	defer cmd.Process.Kill()
	// await returns the first log line whose msg is one of msgs.
	await := func(msgs ...string) map[string]any {
		t.Helper()
		timeout := time.After(30 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("serve exited (%v) before logging %q", <-exited, msgs)
				}
				var rec map[string]any
				if json.Unmarshal([]byte(l), &rec) == nil {
					for _, m := range msgs {
						if rec["msg"] == m {
							return rec
						}
					}
				}
			case <-timeout:
				t.Fatalf("no %q logged within 30s", msgs)
			}
		}
	}
	ready := await("ready to serve")
	api := "http://" + ready["listen"].([]any)[0].(string)

	renameOver(t, "../../examples/datafile-v2.json", datafile)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if got := await("SIGHUP: reloading datafiles", "stopping"); got["msg"] != "SIGHUP: reloading datafiles" {
		t.Fatalf("after SIGHUP serve logged %v", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for revision(t, api) != "2" {
		if time.Now().After(deadline) {
			t.Fatal("datafile revision 2 not in force 10s after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for range lines { // drain
	}
	if err := <-exited; err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
}

func revision(t *testing.T, api string) string {
	t.Helper()
	res, err := http.Get(api + "/v1/config")
	if err != nil {
		t.Fatalf("serve no longer answers: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var c struct{ Revision string }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("/v1/config: %v: %s", err, b)
	}
	return c.Revision
}

// renameOver replaces to with from's content by rename, as deployments do.
func renameOver(t *testing.T, from, to string) {
	t.Helper()
	tmp := to + ".tmp"
	copyFile(t, from, tmp)
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
