// Package buildinfo says which build of stickybucket is running: the
// version and commit a release build sets at link time,
//
//	go build -ldflags "-X github.com/stickybucket/stickybucket/internal/buildinfo.version=v1.2.3 \
//	    -X github.com/stickybucket/stickybucket/internal/buildinfo.commit=<sha>"
//
// (docker/service/build.sh does, from git), or else what the Go toolchain
// recorded in the binary: the module's version and the VCS revision.
package buildinfo

import "runtime/debug"

// Set at link time; empty otherwise.
var version, commit string

// Version is the version set at link time, else the main module's
// version as the toolchain recorded it ("(devel)" for a build from a
// checkout), else "unknown".
func Version() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" {
		return info.Main.Version
	}
	return "unknown"
}

// Commit is the commit set at link time, else the VCS revision the
// toolchain recorded (with "-dirty" when the tree had changes), else
// "unknown".
func Commit() string {
	if commit != "" {
		return commit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "unknown"
	}
	return rev + dirty
}
