package main

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// TestVersion: version and --version print the build's version and
// commit, or "unknown" for what the build does not know (a test binary,
// built with GOFLAGS=-buildvcs=false here, has no VCS revision).
func TestVersion(t *testing.T) {
	want := regexp.MustCompile(`^stickybucket (\S+), commit (\S+), built with ` + regexp.QuoteMeta(runtime.Version()) + ` for ` + runtime.GOOS + `/` + runtime.GOARCH + "\n$")
	for _, arg := range []string{"version", "--version", "-version"} {
		stdout, stderr, code := runCLI(t, arg)
		m := want.FindStringSubmatch(stdout)
		if code != exitOK || m == nil || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", arg, code, stdout, stderr)
		}
	}
	if got, want := versionLine("v1.2.3", "0123abc"), "stickybucket v1.2.3, commit 0123abc, built with "+runtime.Version(); !strings.HasPrefix(got, want) {
		t.Errorf("versionLine = %q, want it to start %q", got, want)
	}
	if _, stderr, code := runCLI(t, "version", "extra"); code != exitUsage || !strings.HasPrefix(stderr, "Usage: stickybucket version") {
		t.Errorf("version extra: exit %d, %q", code, stderr)
	}
}
