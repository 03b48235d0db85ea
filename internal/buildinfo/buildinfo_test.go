package buildinfo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestLinkTimeValuesWin(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v1.2.3", "abc123"
	if Version() != "v1.2.3" || Commit() != "abc123" {
		t.Errorf("Version %q Commit %q, want the link-time values", Version(), Commit())
	}
	version, commit = "", ""
	if Version() == "" || Commit() == "" {
		t.Errorf("Version %q Commit %q without link-time values, want the toolchain's or unknown", Version(), Commit())
	}
}

// TestLdflags: the -X paths docker/service/build.sh uses reach these
// variables in a real build (a misspelt path is silently ignored by the
// linker).
func TestLdflags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	dir := t.TempDir()
	script, err := os.ReadFile("../../docker/service/build.sh")
	if err != nil {
		t.Fatal(err)
	}
	const pkg = "github.com/stickybucket/stickybucket/internal/buildinfo"
	for _, v := range []string{"pkg=" + pkg + "\n", "-X $pkg.version=", "-X $pkg.commit="} {
		if !strings.Contains(string(script), v) {
			t.Fatalf("docker/service/build.sh does not set %s", v)
		}
	}
	bin := filepath.Join(dir, "probe")
	build := exec.Command("go", "build", "-trimpath", "-o", bin,
		"-ldflags", "-X "+pkg+".version=v9.9.9 -X "+pkg+".commit=feedbeef", "./testdata/probe")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "v9.9.9 feedbeef" {
		t.Errorf("built with -X, the binary says %q, want %q", got, "v9.9.9 feedbeef")
	}
}
