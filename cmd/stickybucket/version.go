package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/stickybucket/stickybucket/internal/buildinfo"
)

const versionUsage = `Usage: stickybucket version

Prints which build this is: the version and the commit a release build
links in (go build -ldflags "-X …/internal/buildinfo.version=…", as the
service image and make build do), else what the Go toolchain recorded (the
module's version, "(devel)" for a build from a checkout, and the VCS
revision, which -buildvcs=false leaves out), else "unknown"; then the Go
version and platform. "stickybucket --version" is the same.
`

// runVersion is `stickybucket version` (and --version).
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, versionUsage) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitUsage
	}
	fmt.Fprintln(stdout, versionLine(buildinfo.Version(), buildinfo.Commit()))
	return exitOK
}

// versionLine is what version prints.
func versionLine(version, commit string) string {
	return fmt.Sprintf("stickybucket %s, commit %s, built with %s for %s/%s", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
