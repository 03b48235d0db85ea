package admin

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// These tests need no Cassandra: they cover the command lines and the
// failures before a connection. integration/admin_test.go runs every
// command against a real node.

func TestUsageErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(stdout, stderr *bytes.Buffer) int
		want int
		says string
	}{
		{"profiles without a command", func(o, e *bytes.Buffer) int { return Profiles(ctx, nil, nil, o, e) }, exitUsage, "Commands:"},
		{"unknown profiles command", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"list"}, nil, o, e) }, exitUsage, `unknown command "list"`},
		{"get without a user", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"get"}, nil, o, e) }, exitUsage, "expects USER, got 0"},
		{"get with two users", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"get", "a", "b"}, nil, o, e) }, exitUsage, "expects USER, got 2"},
		{"delete without a user", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"delete"}, nil, o, e) }, exitUsage, "Usage: stickybucket profiles delete"},
		{"import without a file", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"import"}, nil, o, e) }, exitUsage, "expects FILE"},
		{"export with an argument", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"export", "x"}, nil, o, e) }, exitUsage, `takes no arguments, got ["x"]`},
		{"export with a bad level", func(o, e *bytes.Buffer) int {
			return Profiles(ctx, []string{"export", "--consistency", "MOST"}, nil, o, e)
		}, exitUsage, `--consistency "MOST"`},
		{"no ranges", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"export", "--ranges", "0"}, nil, o, e) }, exitUsage, "at least 1"},
		{"no import concurrency", func(o, e *bytes.Buffer) int {
			return Profiles(ctx, []string{"import", "f", "--concurrency", "-1"}, nil, o, e)
		}, exitUsage, "at least 1"},
		{"unknown flag", func(o, e *bytes.Buffer) int { return Migrate(ctx, []string{"--keyspace", "x"}, o, e) }, exitUsage, "flag provided but not defined"},
		{"help", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"import", "-h"}, nil, o, e) }, exitOK, "Upserts"},
		{"profiles help", func(o, e *bytes.Buffer) int { return Profiles(ctx, []string{"help"}, nil, o, e) }, exitOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if got := tt.run(&stdout, &stderr); got != tt.want {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got, tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.says) {
				t.Errorf("stderr does not say %q:\n%s", tt.says, stderr.String())
			}
		})
	}
}

func TestFlagsMayFollowArguments(t *testing.T) {
	for _, args := range [][]string{
		{"--config", "c.yaml", "user-1"},
		{"user-1", "--config", "c.yaml"},
		{"user-1", "--config=c.yaml"},
	} {
		c := newCommand("profiles get", " USER", "", new(bytes.Buffer))
		pos, _, ok := c.parse(args, 1)
		if !ok || !slices.Equal(pos, []string{"user-1"}) || *c.config != "c.yaml" {
			t.Errorf("parse(%q) = %q, config %q, ok %v", args, pos, *c.config, ok)
		}
	}
}

func TestConfigErrorsFailBeforeConnecting(t *testing.T) {
	ctx := context.Background()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("cassandra:\n  hosts: [127.0.0.1]\n  prot: 9042\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"get", "u", "--config", bad},
		{"delete", "u", "--config", bad},
		{"export", "--config", bad},
		{"import", "-", "--config", bad},
	} {
		var stdout, stderr bytes.Buffer
		if got := Profiles(ctx, args, strings.NewReader(""), &stdout, &stderr); got != exitFail {
			t.Errorf("profiles %q: exit %d, want %d", args, got, exitFail)
		}
		if !strings.Contains(stderr.String(), "prot") {
			t.Errorf("profiles %q: stderr does not name the misspelt key:\n%s", args, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if got := Migrate(ctx, []string{"--config", filepath.Join(t.TempDir(), "missing.yaml")}, &stdout, &stderr); got != exitFail ||
		!strings.Contains(stderr.String(), "no such file") {
		t.Errorf("migrate with a missing file: exit %d, stderr:\n%s", got, stderr.String())
	}
}

// TestMemoryConfigIsRefusedBeforeConnecting: a configuration written for
// the in-memory store (no environment, or one without replication) is
// valid for serve, but the admin commands work on Cassandra: they say
// what is missing instead of trying to connect.
func TestMemoryConfigIsRefusedBeforeConnecting(t *testing.T) {
	ctx := context.Background()
	// An address that never answers: a command that tried to connect
	// would report a timeout, not the missing keys.
	const conn = "cassandra: {hosts: [192.0.2.1], connect_timeout: 5s}\n"
	for _, tt := range []struct{ yaml, want string }{
		{conn + "store: {kind: memory}\n", "environments: at least one environment is required with the Cassandra store"},
		{conn + "environments: {development: {retention: 1d}}\n", "environments.development.replication.class: required with the Cassandra store"},
	} {
		path := filepath.Join(t.TempDir(), "memory.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var stdout, stderr bytes.Buffer
		if got := Migrate(ctx, []string{"--config", path}, &stdout, &stderr); got != exitFail || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("migrate with %q: exit %d, want %d and %q in stderr:\n%s", tt.yaml, got, exitFail, tt.want, stderr.String())
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("migrate took %v: it tried to connect", d)
		}
	}
}

func TestProgressLogsLinesWhenNotATerminal(t *testing.T) {
	defer func(d time.Duration) { logEvery = d }(logEvery)
	logEvery = 0
	var w bytes.Buffer
	p := newProgress(&w, "export", 10, false)
	if p.bar != nil {
		t.Fatal("a bar was drawn on a buffer")
	}
	p.update(3, "3/10 token ranges")
	p.println("line 7: bad")
	p.update(10, "10/10 token ranges")
	p.finish()
	want := "export: 3/10 token ranges\nline 7: bad\nexport: 10/10 token ranges\n"
	if w.String() != want {
		t.Errorf("progress wrote %q, want %q", w.String(), want)
	}

	logEvery = time.Hour
	w.Reset()
	p = newProgress(&w, "import", -1, true)
	p.update(1, "1 line")
	if w.Len() != 0 {
		t.Errorf("progress logged %q before its interval", w.String())
	}
}

func TestOutputIsReplacedOnlyOnSuccess(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "export.jsonl")
	if err := os.WriteFile(path, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, _, abort, err := output(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	abort()
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("an aborted export changed the file to %q", b)
	}
	w, commit, _, err := output(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("new\n"))
	if err := commit(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("a committed export left %q", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if _, _, _, err := output(filepath.Join(dir, "missing", "x.jsonl"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("output into a missing directory = %v", err)
	}
}
