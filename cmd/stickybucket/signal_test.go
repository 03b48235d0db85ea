package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// The tests below run the command for real in a child process: the test
// binary itself, which runs main instead of the tests when
// STICKYBUCKET_TEST_MAIN is set. STICKYBUCKET_TEST_SAVE_GATE names a
// directory with two FIFOs: the child writes a byte to "written" once the
// new profiles file content is in its temporary file, then waits for a
// byte on "release" before replacing the target.
const (
	envRunMain  = "STICKYBUCKET_TEST_MAIN"
	envSaveGate = "STICKYBUCKET_TEST_SAVE_GATE"
)

func TestMain(m *testing.M) {
	if os.Getenv(envRunMain) == "1" {
		if gate := os.Getenv(envSaveGate); gate != "" {
			testHookWritten = func() {
				w, err := os.OpenFile(filepath.Join(gate, "written"), os.O_WRONLY, 0)
				if err != nil {
					panic(err)
				}
				w.Write([]byte("w"))
				w.Close()
				r, err := os.Open(filepath.Join(gate, "release"))
				if err != nil {
					panic(err)
				}
				var b [1]byte
				r.Read(b[:])
				r.Close()
			}
		}
		main()
	}
	os.Exit(m.Run())
}

// child is a running stickybucket process.
type child struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *bytes.Buffer
	exited chan struct{}
	err    error // cmd.Wait's, once exited is closed
}

func startChild(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: exec.Command(os.Args[0], args...), stdout: bufio.NewReader(r), stderr: &bytes.Buffer{}, exited: make(chan struct{})}
	c.cmd.Env = append(append(os.Environ(), envRunMain+"=1"), env...)
	c.cmd.Stdout, c.cmd.Stderr = w, c.stderr
	// Should the test binary die (a timeout), the child dies with it.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() { c.err = c.cmd.Wait(); close(c.exited) }()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.exited
		r.Close()
	})
	return c
}

// open opens a FIFO the child opens too, failing if the child exits first.
func (c *child) open(t *testing.T, path string, flag int) *os.File {
	t.Helper()
	opened := make(chan *os.File, 1)
	go func() {
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			f = nil
		}
		opened <- f
	}()
	select {
	case f := <-opened:
		if f == nil {
			t.Fatalf("open %s failed", path)
		}
		t.Cleanup(func() { f.Close() })
		return f
	case <-c.exited:
		t.Fatalf("the child exited before opening %s: %v\n%s", path, c.err, c.stderr)
	}
	return nil
}

func (c *child) exitCode(t *testing.T) int {
	t.Helper()
	<-c.exited
	var ee *exec.ExitError
	if c.err != nil && !errors.As(c.err, &ee) {
		t.Fatalf("child: %v", c.err)
	}
	return c.cmd.ProcessState.ExitCode()
}

func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDecideSignalsEndTheRunAndSave sends each signal to a real decide
// process that has decided three requests and is reading a fourth from a
// FIFO: it must stop reading, not decide or print the fourth, save the
// three decisions' assignments (keeping the profiles already in the file)
// and exit with exitInterrupted.
func TestDecideSignalsEndTheRunAndSave(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		name := signalNames[sig]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			requests := filepath.Join(dir, "requests.fifo")
			mkfifo(t, requests)
			profiles := filepath.Join(dir, "profiles.json")
			os.WriteFile(profiles, []byte(`[{"user_id": "old", "experiment_bucket_map": {"9": {"variation_id": "1"}}}]`), 0o644)

			c := startChild(t, nil, "decide", "--datafile", "../../examples/datafile-v1.json", "--requests", requests, "--profiles", profiles)
			in := c.open(t, requests, os.O_WRONLY)
			users := []string{"alice", "bob", "carol"}
			for _, u := range users {
				fmt.Fprintf(in, `{"userId": %q, "experiment": "checkout_button"}`+"\n", u)
			}
			// The fourth request is in flight: half written.
			fmt.Fprint(in, `{"userId": "dave", "experiment": "checkout_`)
			var printed []string
			for range users {
				line, err := c.stdout.ReadString('\n')
				if err != nil {
					t.Fatalf("reading the child's output: %v\n%s", err, c.stderr)
				}
				printed = append(printed, line)
			}
			if err := c.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(c.stdout)
			if code := c.exitCode(t); code != exitInterrupted {
				t.Errorf("exit %d after %s, want %d; stderr:\n%s", code, name, exitInterrupted, c.stderr)
			}
			if len(rest) > 0 {
				t.Errorf("printed after the signal: %q", rest)
			}
			if !strings.Contains(c.stderr.String(), "interrupted by "+name) {
				t.Errorf("stderr does not say the run was interrupted by %s:\n%s", name, c.stderr)
			}
			got := map[string]ups.Profile{}
			for _, p := range readProfilesFile(t, profiles) {
				got[p.UserID] = p
			}
			for i, u := range users {
				if !strings.Contains(printed[i], `"user_id":"`+u+`"`) || !strings.Contains(printed[i], `"variation":"`) {
					t.Fatalf("output line %d = %q, want a variation for %s", i+1, printed[i], u)
				}
				if len(got[u].Assignments) != 1 {
					t.Errorf("profile of %s = %+v, want its assignment saved", u, got[u])
				}
			}
			if v, _ := got["old"].Variation("9"); v != "1" {
				t.Errorf("the profile already in the file was lost: %+v", got["old"])
			}
			if _, ok := got["dave"]; ok || len(got) != 4 {
				t.Errorf("profiles file holds %d users (dave: %v), want old, alice, bob and carol", len(got), ok)
			}
		})
	}
}

// TestDecideSaveSurvivesSignals stops a real decide process in the middle
// of writing the profiles file: a signal then does not cut the save short
// (it completes; the run had finished, so the exit is 0), and SIGKILL
// leaves the old file as it was and no temporary file behind.
func TestDecideSaveSurvivesSignals(t *testing.T) {
	for _, tt := range []struct {
		name string
		sig  syscall.Signal
	}{{"SIGTERM then finish", syscall.SIGTERM}, {"SIGKILL", syscall.SIGKILL}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			os.Mkdir(data, 0o755)
			profiles := filepath.Join(data, "profiles.json")
			old := `[{"user_id": "old", "experiment_bucket_map": {"9": {"variation_id": "1"}}}]`
			os.WriteFile(profiles, []byte(old), 0o644)
			requests := filepath.Join(dir, "requests.jsonl")
			os.WriteFile(requests, []byte(`{"userId": "alice", "experiment": "checkout_button"}`+"\n"), 0o644)
			gate := filepath.Join(dir, "gate")
			os.Mkdir(gate, 0o755)
			mkfifo(t, filepath.Join(gate, "written"))
			mkfifo(t, filepath.Join(gate, "release"))

			c := startChild(t, []string{envSaveGate + "=" + gate},
				"decide", "--datafile", "../../examples/datafile-v1.json", "--requests", requests, "--profiles", profiles)
			written := c.open(t, filepath.Join(gate, "written"), os.O_RDONLY)
			var b [1]byte
			if _, err := io.ReadFull(written, b[:]); err != nil {
				t.Fatal(err)
			}
			// The child has written the new content and waits.
			if err := c.cmd.Process.Signal(tt.sig); err != nil {
				t.Fatal(err)
			}
			if tt.sig == syscall.SIGKILL {
				c.exitCode(t)
				if got, _ := os.ReadFile(profiles); string(got) != old {
					t.Errorf("after SIGKILL mid-save the profiles file holds %q, want the old content", got)
				}
			} else {
				c.open(t, filepath.Join(gate, "release"), os.O_WRONLY).Write([]byte("g"))
				if code := c.exitCode(t); code != exitOK {
					t.Errorf("exit %d, want %d: the run had completed when the signal came\n%s", code, exitOK, c.stderr)
				}
				if got := readProfilesFile(t, profiles); len(got) != 2 {
					t.Errorf("profiles file holds %v, want old and alice", got)
				}
			}
			onlyFile(t, data)
		})
	}
}

// gatedStore blocks the lookup of user "gate" until ctx is done, telling
// entered when it starts: the decision is in flight when the test cancels.
type gatedStore struct {
	ups.Service
	entered chan struct{}
}

func (g gatedStore) Lookup(ctx context.Context, userID string) (ups.Profile, error) {
	if userID == "gate" {
		close(g.entered)
		<-ctx.Done()
		return ups.Profile{}, ctx.Err()
	}
	return g.Service.Lookup(ctx, userID)
}

// TestDecideAllDropsTheDecisionInFlight: a cancellation that lands while a
// decision waits on its profile makes decideAll return without printing
// that decision or saving anything for it.
func TestDecideAllDropsTheDecisionInFlight(t *testing.T) {
	df, err := decision.ParseDatafile(mustRead(t, "../../examples/datafile-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	tab := newProfileTable()
	store := gatedStore{Service: tab, entered: make(chan struct{})}
	client, err := decision.NewClient(decision.Options{Datafile: df, Profiles: store})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-store.entered; cancel() }()
	in := strings.NewReader(`{"userId": "alice", "experiment": "checkout_button"}` + "\n" +
		`{"userId": "gate", "experiment": "checkout_button"}` + "\n" +
		`{"userId": "bob", "experiment": "checkout_button"}` + "\n")
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	stats, err := decideAll(ctx, client, in, w, slog.New(slog.DiscardHandler))
	w.Flush()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("decideAll = %v, want context.Canceled", err)
	}
	if strings.Count(out.String(), "\n") != 1 || !strings.Contains(out.String(), "alice") {
		t.Errorf("output %q, want alice's decision only", out.String())
	}
	if stats.requests != 1 || stats.storeErrors != 0 {
		t.Errorf("stats %+v, want one request and no store error", stats)
	}
	if tab.Len() != 1 {
		t.Errorf("the table holds %d users, want alice only", tab.Len())
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
