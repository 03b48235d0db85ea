package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompareReadsEveryLineDecideWrites: decide echoes user IDs and keys,
// so an output line can be far longer than any fixed token limit: a line of
// "<" must not be HTML-escaped sixfold, and U+2028 is always escaped by
// encoding/json (3 bytes in, 6 out). compare must read them all, and skip
// blank lines.
func TestCompareReadsEveryLineDecideWrites(t *testing.T) {
	dir := t.TempDir()
	room := maxRequestLine - 100
	lt := strings.Repeat("<", room)
	ls := strings.Repeat("\u2028", room/3)
	out, stderr, code := decideLines(t, dir,
		`{"user_id": "`+lt+`", "experiment": "checkout_button"}`,
		`{"user_id": "alice", "flag": "`+ls+`"}`,
		`{"user_id": "bob", "experiment": "checkout_button"}`,
	)
	if code != exitOK {
		t.Fatalf("decide: exit %d: %s", code, stderr)
	}
	if out[0]["user_id"] != lt || out[1]["flag"] != ls {
		t.Fatal("decide did not echo the user ID and the flag key whole")
	}
	stdout, _, _ := runCLI(t, "decide", "--datafile", "../../examples/datafile-v1.json",
		"--requests", filepath.Join(dir, "requests.jsonl"), "--profiles", filepath.Join(dir, "profiles.json"))
	if strings.Contains(stdout, `\u003c`) {
		t.Error("decide HTML-escaped its output")
	}
	before := filepath.Join(dir, "before.jsonl")
	after := filepath.Join(dir, "after.jsonl")
	os.WriteFile(before, []byte(stdout), 0o644)
	// The same output with blank lines (and a CRLF) between results.
	os.WriteFile(after, []byte("\n"+strings.ReplaceAll(stdout, "\n", "\n\r\n  \n")), 0o644)

	var cmp, cmpErr bytes.Buffer
	if code := run(context.Background(), []string{"compare", before, after}, nil, &cmp, &cmpErr); code != exitOK {
		t.Fatalf("compare: exit %d: %.500s", code, cmpErr.String())
	}
	if !strings.HasSuffix(cmp.String(), "3 of 3 decisions kept their variation\n") {
		t.Errorf("compare output ends %q", cmp.String()[max(0, cmp.Len()-200):])
	}
	// The table shows long values cut, so one long ID does not pad every
	// row to a megabyte.
	if cmp.Len() > 2000 {
		t.Errorf("compare wrote %d bytes for 3 rows; long values must be cut in the table", cmp.Len())
	}
}

func TestCompareCellsAreReadable(t *testing.T) {
	for in, want := range map[string]string{
		"alice":                   "alice",
		"tab\there":               `"tab\there"`,
		"line\nbreak":             `"line\nbreak"`,
		strings.Repeat("é", 40):   strings.Repeat("é", 32) + "…(80 bytes)",
		"\u2028":                  `"\u2028"`,
		"spaces are fine, é too ": "spaces are fine, é too ",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}
