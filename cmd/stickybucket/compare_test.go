package main

import (
	"bytes"
	"context"
	"encoding/json"
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
		`{"userId": "`+lt+`", "experiment": "checkout_button"}`,
		`{"userId": "alice", "flag": "`+ls+`"}`,
		`{"userId": "bob", "experiment": "checkout_button"}`,
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

// compareFiles writes before and after and runs compare on them.
func compareFiles(t *testing.T, before, after string) (stdout, stderr string, code int) {
	t.Helper()
	dir := t.TempDir()
	b, a := filepath.Join(dir, "before.jsonl"), filepath.Join(dir, "after.jsonl")
	if err := os.WriteFile(b, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(a, []byte(after), 0o644); err != nil {
		t.Fatal(err)
	}
	return runCLI(t, "compare", b, a)
}

// TestCompareCountsErrorsApart: bad request lines are errors in decide's
// output, not decisions: compare neither counts them as kept nor as
// compared, and says how many there were.
func TestCompareCountsErrorsApart(t *testing.T) {
	dir := t.TempDir()
	lines := []string{
		`{"userId": "alice", "experiment": "checkout_button"}`,
		`{"experiment": "checkout_button"}`,
		`{"userId": "bob", "flag": "new_search", "userAttributes": {"plan": "pro", "app_version": "3.2.0"}}`,
		`{"userId": 7, "experiment": "checkout_button"}`,
		`not JSON`,
		`{"userId": "carol"}`,
		`{"userId": "carol", "experiment": "checkout_button", "decideOptions": ["FAST"]}`,
		`{"userId": "dave", "experiment": "checkout_button", "flag": "new_search"}`,
		`{"userId": "erin", "experiment": "checkout_button"}`,
	}
	if err := os.WriteFile(filepath.Join(dir, "requests.jsonl"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	decideWith := func(datafile, out string) string {
		stdout, _, code := runCLI(t, "decide", "--datafile", "../../examples/"+datafile,
			"--requests", filepath.Join(dir, "requests.jsonl"), "--profiles", filepath.Join(dir, "profiles.json"))
		if code != exitFail {
			t.Fatalf("decide with bad lines: exit %d", code)
		}
		return stdout
	}
	stdout, stderr, code := compareFiles(t, decideWith("datafile-v1.json", "before"), decideWith("datafile-v2.json", "after"))
	if code != exitOK {
		t.Fatalf("compare: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "3 of 3 decisions kept their variation\n6 requests not compared: bad request lines (6 before, 6 after)\n") {
		t.Errorf("compare's summary:\n%s", stdout)
	}
	if n := strings.Count(stdout, "  error\n"); n != 6 {
		t.Errorf("%d rows say error, want 6:\n%s", n, stdout)
	}

	// One run's decision against the other's error is an error row too.
	stdout, stderr, code = compareFiles(t,
		`{"user_id":"a","experiment":"e","variation":"v"}`+"\n"+`{"line":2,"error":"missing \"user_id\""}`+"\n",
		`{"line":1,"error":"invalid JSON"}`+"\n"+`{"line":2,"error":"missing \"user_id\""}`+"\n")
	if code != exitOK || !strings.Contains(stdout, "0 of 0 decisions kept their variation\n2 requests not compared: bad request lines (1 before, 2 after)\n") ||
		!strings.Contains(stdout, "a     experiment e  v       error  error") {
		t.Errorf("compare: exit %d\n%s%s", code, stdout, stderr)
	}
	// Errors of different request lines are not the same request.
	_, stderr, code = compareFiles(t, `{"line":2,"error":"x"}`+"\n", `{"line":3,"error":"x"}`+"\n")
	if code != exitFail || !strings.Contains(stderr, "an error of request line 2 before and of request line 3 after") {
		t.Errorf("errors of other lines: exit %d, %s", code, stderr)
	}
}

// TestCompareRefusesWhatIsNotDecidesOutput: decide's input, or anything
// else that is not what decide writes, is refused with the line and why.
func TestCompareRefusesWhatIsNotDecidesOutput(t *testing.T) {
	requests, err := os.ReadFile("../../examples/requests.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	ok := `{"user_id":"a","experiment":"e","variation":"v"}` + "\n"
	for _, tt := range []struct{ name, content, want string }{
		{"decide's input", string(requests), `before.jsonl line 1 is not an output line of decide: it has "userAttributes", a field of decide's requests: give compare what decide printed, not what it read`},
		{"a request with the old names", ok + `{"user_id":"a","attributes":{},"experiment":"e"}` + "\n", `line 2 is not an output line of decide: it has "attributes", a field of decide's requests`},
		{"a request", ok + `{"userId":"a","experiment":"e"}` + "\n", `line 2 is not an output line of decide: it has "userId", a field of decide's requests`},
		{"a request without attributes", "\n" + `{"user_id":"a","experiment":"e"}`, `line 2 is not an output line of decide: it has no "variation": give compare what decide printed, not what it read`},
		{"not JSON", "decided\n", "line 1 is not an output line of decide: invalid JSON"},
		{"not an object", "[1]\n", "line 1 is not an output line of decide: not a JSON object"},
		{"no kind", `{"user_id":"a","variation":"v"}`, `it has none of "experiment", "flag" or "error"`},
		{"a field decide does not write", `{"user_id":"a","experiment":"e","variation":"v","kept":true}`, `it has "kept", which decide does not write`},
		{"a variation of the wrong type", `{"user_id":"a","experiment":"e","variation":3}`, `"variation" must be a string`},
		{"a flag without enabled", `{"user_id":"a","flag":"f","variation":null,"rule":null}`, `it has no "enabled"`},
		{"enabled not a boolean", `{"user_id":"a","flag":"f","enabled":"yes","variation":null,"rule":null}`, `"enabled" must be true or false`},
		{"an error line with a user", `{"line":2,"error":"x","user_id":"a"}`, `it has "user_id", which decide does not write`},
		{"an error line without a line", `{"line":0,"error":"x"}`, `"line" must be a line number`},
		{"a null user", `{"user_id":null,"experiment":"e","variation":"v"}`, `"user_id" must be a string`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := compareFiles(t, tt.content, tt.content)
			if code != exitFail || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %d and %q", code, stderr, exitFail, tt.want)
			}
		})
	}
}

// TestCompareReadsEveryKindOfLineDecideWrites: experiments, flags, keys
// the datafile lacks, the empty key, warnings and errors.
func TestCompareReadsEveryKindOfLineDecideWrites(t *testing.T) {
	dir := t.TempDir()
	stdout, _, _ := runCLI(t, "decide", "--datafile", "../../examples/datafile-v1.json", "--requests", "../../examples/requests.jsonl",
		"--profiles", filepath.Join(dir, "p.json"))
	out, _, _ := decideLines(t, dir,
		`{"userId": "`+strings.Repeat("u", 600)+`", "experiment": "checkout_button"}`,
		`{"userId": "a", "experiment": ""}`,
		`{"userId": "a", "flag": "no_such_flag"}`,
		`{"userId": "a"}`,
	)
	var more strings.Builder
	for _, o := range out {
		b, _ := json.Marshal(o)
		more.Write(append(b, '\n'))
	}
	all := stdout + more.String()
	got, stderr, code := compareFiles(t, all, all)
	if code != exitOK {
		t.Fatalf("compare of decide's own output: exit %d: %s", code, stderr)
	}
	if !strings.Contains(got, "49 of 49 decisions kept their variation\n1 request not compared") {
		t.Errorf("summary:\n%s", got[max(0, len(got)-300):])
	}
}

func TestCompareHelp(t *testing.T) {
	_, stderr, code := runCLI(t, "compare", "--help")
	if code != exitOK || !strings.Contains(stderr, "Lines up two outputs of \"stickybucket decide\"") || !strings.Contains(stderr, "Exit status") {
		t.Errorf("compare --help: exit %d\n%s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "compare", "one.jsonl"); code != exitUsage || !strings.HasPrefix(stderr, "Usage: stickybucket compare BEFORE.jsonl AFTER.jsonl") {
		t.Errorf("compare with one file: exit %d\n%s", code, stderr)
	}
}
