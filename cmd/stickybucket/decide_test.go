package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/ups"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

// TestDecideIsStickyAcrossDatafiles runs the examples as `make run` does:
// datafile v1, then v2 with the same profiles file, then v2 without
// profiles, and checks the outputs and what stickiness changed.
func TestDecideIsStickyAcrossDatafiles(t *testing.T) {
	dir := t.TempDir()
	profiles := filepath.Join(dir, "profiles.json")
	decide := func(datafile, profiles string) string {
		out, stderr, code := runCLI(t, "decide", "--datafile", "../../examples/"+datafile,
			"--requests", "../../examples/requests.jsonl", "--profiles", profiles)
		if code != exitOK {
			t.Fatalf("decide %s: exit %d: %s", datafile, code, stderr)
		}
		return out
	}
	before := decide("datafile-v1.json", profiles)
	golden(t, "before.jsonl", before)
	after := decide("datafile-v2.json", profiles)
	golden(t, "after.jsonl", after)
	fresh := decide("datafile-v2.json", filepath.Join(dir, "none.json"))

	var beforeLines, afterLines, freshLines []outputLine
	for _, x := range []struct {
		text string
		dst  *[]outputLine
	}{{before, &beforeLines}, {after, &afterLines}, {fresh, &freshLines}} {
		for _, l := range strings.Split(strings.TrimSpace(x.text), "\n") {
			var o outputLine
			if err := json.Unmarshal([]byte(l), &o); err != nil {
				t.Fatal(err)
			}
			*x.dst = append(*x.dst, o)
		}
	}
	requests := readRequests(t)
	stickyKept, freshKept, experiments := 0, 0, 0
	for i, b := range beforeLines {
		// Only experiment assignments made through the profile store are
		// sticky; rollouts and IGNORE_USER_PROFILE_SERVICE are not.
		if b.Experiment == nil || b.Variation == nil || strings.Contains(requests[i], "IGNORE_USER_PROFILE_SERVICE") {
			continue
		}
		experiments++
		if afterLines[i].result() == b.result() {
			stickyKept++
		}
		if freshLines[i].result() == b.result() {
			freshKept++
		}
	}
	if stickyKept != experiments {
		t.Errorf("with profiles, %d of %d experiment assignments were kept across the datafile change, want all", stickyKept, experiments)
	}
	if freshKept == experiments {
		t.Errorf("without profiles every assignment was kept too: the example datafile change does not exercise stickiness")
	}

	var cmp bytes.Buffer
	os.WriteFile(filepath.Join(dir, "before.jsonl"), []byte(before), 0o644)
	os.WriteFile(filepath.Join(dir, "after.jsonl"), []byte(after), 0o644)
	if code := run(context.Background(), []string{"compare", filepath.Join(dir, "before.jsonl"), filepath.Join(dir, "after.jsonl")}, nil, &cmp, &cmp); code != exitOK {
		t.Fatalf("compare: exit %d: %s", code, cmp.String())
	}
	golden(t, "compare.txt", cmp.String())
}

// A request line's forcedDecisions force the variation of that line's
// decision, as the service's decide body does, and the forced variation is
// not saved: the user's next line without them gets the assignment made
// before.
func TestDecideForcedDecisions(t *testing.T) {
	dir := t.TempDir()
	requests := filepath.Join(dir, "requests.jsonl")
	lines := `{"userId": "forced-1", "flag": "new_search"}
{"userId": "forced-1", "flag": "new_search", "forcedDecisions": [{"flagKey": "new_search", "ruleKey": "search_experiment", "variationKey": "%s"}]}
{"userId": "forced-1", "flag": "new_search"}
`
	out, stderr, code := runCLI(t, "decide", "--datafile", "../../examples/datafile-v1.json", "--requests", writeFile(t, requests, fmt.Sprintf(lines, "classic")),
		"--profiles", filepath.Join(dir, "p.json"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var first outputLine
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &first); err != nil || first.Variation == nil {
		t.Fatalf("first line %q: %v", out, err)
	}
	other := map[string]string{"classic": "semantic", "semantic": "classic"}[*first.Variation]
	// Again for a fresh user, forcing the variation the first line did not get.
	out, stderr, code = runCLI(t, "decide", "--datafile", "../../examples/datafile-v1.json", "--requests", writeFile(t, requests, fmt.Sprintf(lines, other)),
		"--profiles", filepath.Join(dir, "p2.json"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var o outputLine
		if err := json.Unmarshal([]byte(l), &o); err != nil || o.Variation == nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, *o.Variation)
	}
	if want := []string{*first.Variation, other, *first.Variation}; !slices.Equal(got, want) {
		t.Errorf("variations %v, want %v: forced on the second line only, the saved one kept", got, want)
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func readRequests(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../examples/requests.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func TestDecideBadLines(t *testing.T) {
	dir := t.TempDir()
	requests := filepath.Join(dir, "requests.jsonl")
	os.WriteFile(requests, []byte(strings.Join([]string{
		`{"userId": "u1", "experiment": "checkout_button"}`,
		`{"userId": "u1", "experiment": "checkout_button"`,
		``,
		`{"experiment": "checkout_button"}`,
		`{"userId": "u2", "flag": "dark_mode", "experiment": "checkout_button"}`,
		`{"userId": "u3", "flag": "no_such_flag"}`,
		`{"userId": "u4", "experiment": "no_such_experiment"}`,
		"{\"userId\": \"u5\", \"flag\": \"" + strings.Repeat("x", maxRequestLine) + "\"}",
		`{"userId": "u6", "flag": "dark_mode", "decideOptions": ["NOPE"]}`,
	}, "\n")), 0o644)
	profiles := filepath.Join(dir, "profiles.json")
	out, stderr, code := runCLI(t, "decide", "--datafile", "../../examples/datafile-v1.json", "--requests", requests, "--profiles", profiles)
	if code != exitFail {
		t.Errorf("exit %d with bad lines, want %d", code, exitFail)
	}
	if !strings.Contains(stderr, "bad_lines=5") {
		t.Errorf("stderr does not report the bad lines: %s", stderr)
	}
	golden(t, "bad_lines.jsonl", out)
	if _, err := os.Stat(profiles); err != nil {
		t.Errorf("profiles not written back after bad lines: %v", err)
	}
}

func TestDecideUsageAndFileErrors(t *testing.T) {
	dir := t.TempDir()
	badProfiles := filepath.Join(dir, "bad.json")
	os.WriteFile(badProfiles, []byte(`[{"user_id": 1}]`), 0o644)
	badDatafile := filepath.Join(dir, "datafile.json")
	os.WriteFile(badDatafile, []byte(`{"version": "4", "experiments": [{"id": "1", "key": "e", "trafficAllocation": [{"entityId": "9", "endOfRange": 10000}]}]}`), 0o644)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "Usage:"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"decide", "--datafile", "x"}, exitUsage, "are required"},
		{[]string{"decide", "--bogus"}, exitUsage, "flag provided but not defined"},
		{[]string{"decide", "--datafile", filepath.Join(dir, "missing.json"), "--requests", "r", "--profiles", "p"}, exitFail, "missing.json"},
		{[]string{"decide", "--datafile", badDatafile, "--requests", "r", "--profiles", "p"}, exitFail, `unknown variation`},
		{[]string{"decide", "--datafile", "../../examples/datafile-v1.json", "--requests", "r", "--profiles", badProfiles}, exitFail, "element 0"},
		{[]string{"compare", "only-one"}, exitUsage, "Usage: stickybucket compare"},
	}
	for _, tt := range tests {
		_, stderr, code := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("stickybucket %v: exit %d, stderr %q; want exit %d and %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
	if out, _, code := runCLI(t, "help"); code != exitOK || !strings.Contains(out, "stickybucket decide") {
		t.Errorf("help: exit %d, %q", code, out)
	}
}

// decideLines runs decide on the given request lines with a fresh profiles
// file in dir and returns the parsed output lines.
func decideLines(t *testing.T, dir string, lines ...string) (out []map[string]any, stderr string, code int) {
	t.Helper()
	requests := filepath.Join(dir, "requests.jsonl")
	if err := os.WriteFile(requests, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCLI(t, "decide", "--datafile", "../../examples/datafile-v1.json",
		"--requests", requests, "--profiles", filepath.Join(dir, "profiles.json"))
	for l := range strings.SplitSeq(strings.TrimSuffix(stdout, "\n"), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("output line %.100q: %v", l, err)
		}
		out = append(out, o)
	}
	return out, stderr, code
}

// TestDecideInvalidTextUserIDsAreErrors: user IDs that decoding would turn
// into U+FFFD ("\xff\xfe" and "\xc0\xc1" both become "\ufffd\ufffd") must
// not be decided as one user sharing one profile.
func TestDecideInvalidTextUserIDsAreErrors(t *testing.T) {
	dir := t.TempDir()
	bad := []string{"\xff\xfe", "\xc0\xc1", `\ud800`, `\udbff`}
	var lines []string
	for _, id := range bad {
		lines = append(lines, `{"userId": "`+id+`", "experiment": "checkout_button"}`)
	}
	lines = append(lines, `{"userId": "\ufffd\ufffd", "experiment": "checkout_button"}`)
	out, _, code := decideLines(t, dir, lines...)
	if code != exitFail {
		t.Errorf("exit %d, want %d for bad lines", code, exitFail)
	}
	for i := range bad {
		if msg, _ := out[i]["error"].(string); !strings.Contains(msg, `"userId" is not valid Unicode text`) {
			t.Errorf("line %d (user_id %q): got %v, want an error line about userId", i+1, bad[i], out[i])
		}
	}
	if out[len(bad)]["variation"] == nil {
		t.Errorf("the real user \"\\ufffd\\ufffd\" was not decided: %v", out[len(bad)])
	}
	profiles := readProfilesFile(t, filepath.Join(dir, "profiles.json"))
	if len(profiles) != 1 {
		t.Errorf("profiles file holds %d users, want only the valid one", len(profiles))
	}
}

// TestDecideUnkeyableUserIDWarns: an ID over ups.MaxUserIDBytes is decided
// without stickiness, and the output line says so; an ID at the limit is
// sticky and has no warning.
func TestDecideUnkeyableUserIDWarns(t *testing.T) {
	dir := t.TempDir()
	atLimit, over := strings.Repeat("a", ups.MaxUserIDBytes), strings.Repeat("b", ups.MaxUserIDBytes+1)
	out, stderr, code := decideLines(t, dir,
		`{"userId": "`+atLimit+`", "experiment": "checkout_button"}`,
		`{"userId": "`+over+`", "experiment": "checkout_button"}`,
		`{"userId": "`+over+`", "flag": "new_search"}`,
		`{"userId": "`+over+`", "experiment": "checkout_button", "decideOptions": ["IGNORE_USER_PROFILE_SERVICE"]}`,
	)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if w, ok := out[0]["warning"]; ok {
		t.Errorf("user ID at the limit got a warning: %v", w)
	}
	for _, i := range []int{1, 2} {
		w, _ := out[i]["warning"].(string)
		if !strings.Contains(w, "513 bytes") || !strings.Contains(w, "without stickiness") {
			t.Errorf("line %d: warning %q, want one about the 513-byte user ID", i+1, w)
		}
		if out[i]["user_id"] != over {
			t.Errorf("line %d: user_id not echoed whole", i+1)
		}
	}
	if w, ok := out[3]["warning"]; ok {
		t.Errorf("IGNORE_USER_PROFILE_SERVICE asked for no stickiness, yet a warning: %v", w)
	}
	if !strings.Contains(stderr, "warnings=2") {
		t.Errorf("stderr does not count the warnings: %s", stderr)
	}
	profiles := readProfilesFile(t, filepath.Join(dir, "profiles.json"))
	if len(profiles) != 1 || profiles[0].UserID != atLimit {
		t.Errorf("profiles file holds %d users, want only the one at the limit", len(profiles))
	}
}

// TestDecideProfilesFileKeepsModeAndLinks: the profiles file written back
// keeps its permission bits, a symbolic link stays a link to the replaced
// target, and no temporary file is left next to it.
func TestDecideProfilesFileKeepsModeAndLinks(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	os.Mkdir(data, 0o755)
	target := filepath.Join(data, "profiles.json")
	os.WriteFile(target, []byte("[]\n"), 0o644)
	os.Chmod(target, 0o644)
	link := filepath.Join(dir, "profiles.json")
	os.Symlink("data/profiles.json", link)
	requests := filepath.Join(dir, "requests.jsonl")
	os.WriteFile(requests, []byte(`{"userId": "u1", "experiment": "checkout_button"}`+"\n"), 0o644)
	for _, path := range []string{target, link} {
		if _, stderr, code := runCLI(t, "decide", "--datafile", "../../examples/datafile-v1.json",
			"--requests", requests, "--profiles", path); code != exitOK {
			t.Fatalf("decide: exit %d: %s", code, stderr)
		}
		info, err := os.Stat(target)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o644 {
			t.Errorf("profiles file mode 0644 became %v after a run on %s", info.Mode().Perm(), path)
		}
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("the profiles link was replaced by a regular file (%v)", err)
	}
	if data, _ := os.ReadFile(target); !strings.Contains(string(data), `"u1"`) {
		t.Errorf("the link's target does not hold the run's profile: %s", data)
	}
	entries, _ := os.ReadDir(data)
	if len(entries) != 1 {
		t.Errorf("%s holds %d files, want only the profiles file", data, len(entries))
	}
}

// TestDecideWarnsAboutHardLinks: a rename cannot keep hard links, so
// decide says the other names keep the old content.
func TestDecideWarnsAboutHardLinks(t *testing.T) {
	dir := t.TempDir()
	profiles := filepath.Join(dir, "profiles.json")
	os.WriteFile(profiles, []byte("[]\n"), 0o644)
	if err := os.Link(profiles, filepath.Join(dir, "other-name.json")); err != nil {
		t.Fatal(err)
	}
	requests := filepath.Join(dir, "requests.jsonl")
	os.WriteFile(requests, []byte(`{"userId": "u1", "experiment": "checkout_button"}`+"\n"), 0o644)
	_, stderr, code := runCLI(t, "decide", "--datafile", "../../examples/datafile-v1.json", "--requests", requests, "--profiles", profiles)
	if code != exitOK || !strings.Contains(stderr, "other hard links") || !strings.Contains(stderr, "links=2") {
		t.Errorf("exit %d, stderr %s; want a warning about the hard link", code, stderr)
	}
}

// TestDecideWarnsOfDeprecatedNames: request lines with the old field
// names are decided as ever, with one warning for the run.
func TestDecideWarnsOfDeprecatedNames(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := decideLines(t, dir,
		`{"user_id": "alice", "attributes": {"plan": "pro", "app_version": "3.2.0"}, "flag": "new_search", "options": ["EXCLUDE_VARIABLES"]}`,
		`{"user_id": "bob", "experiment": "checkout_button"}`,
		`{"userId": "carol", "userAttributes": {"plan": "pro", "app_version": "3.2.0"}, "flag": "new_search"}`,
	)
	if code != exitOK || len(out) != 3 || out[0]["variation"] == nil || out[2]["variation"] == nil {
		t.Fatalf("exit %d, %v\n%s", code, out, stderr)
	}
	if strings.Count(stderr, "deprecated field names") != 1 || !strings.Contains(stderr, `deprecated="user_id, attributes, options" lines=2`) {
		t.Errorf("stderr does not warn once of the 2 lines with old names:\n%s", stderr)
	}
	_, stderr, _ = decideLines(t, t.TempDir(), `{"userId": "carol", "flag": "new_search", "decideOptions": []}`)
	if strings.Contains(stderr, "deprecated") {
		t.Errorf("a warning for the current names:\n%s", stderr)
	}
}
