// Package agentbuild builds Optimizely Agent from its source at the commit
// the project measures against, and caches the binary, for the tests that
// run Agent next to `stickybucket serve`: integration's Agent tests and
// the acceptance suite (acceptance/test.sh, through cmd/agentbin).
//
// The source is a tarball that lives, with the script that builds it, in
// the shared anchors next to the repository (../shared/anchors/agent from
// the repository's root), or where AGENT_SRC_TGZ says.
package agentbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// TarballName is Agent's source at the commit the project measures against.
const TarballName = "agent-src-471fdcd.tgz"

// ErrNoSource: the tarball or its build script is not on this machine.
var ErrNoSource = errors.New("optimizely agent source not found")

// Source finds the tarball and build.sh for the repository at root:
// AGENT_SRC_TGZ, else the shared anchors beside the repository; build.sh
// next to the tarball, else in the shared anchors.
func Source(root string) (tgz, script string, err error) {
	root, err = filepath.Abs(root)
	if err != nil {
		return "", "", fmt.Errorf("find the repository root: %w", err)
	}
	anchors := filepath.Join(filepath.Dir(root), "shared", "anchors", "agent")
	tgz = os.Getenv("AGENT_SRC_TGZ")
	if tgz == "" {
		tgz = filepath.Join(anchors, TarballName)
	}
	if _, err := os.Stat(tgz); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNoSource, err)
	}
	for _, dir := range []string{filepath.Dir(tgz), anchors} {
		script = filepath.Join(dir, "build.sh")
		if _, err := os.Stat(script); err == nil {
			return tgz, script, nil
		}
	}
	return "", "", fmt.Errorf("%w: no build.sh next to %s or in %s", ErrNoSource, tgz, anchors)
}

// Binary returns the cached Agent binary for the tarball's content (keyed
// by its SHA-256, under the user's cache directory), or untars the source
// into a temporary directory and runs build.sh there. It says which in
// note. root is the repository's root (see Source).
func Binary(ctx context.Context, root string) (bin, note string, err error) {
	tgz, script, err := Source(root)
	if err != nil {
		return "", "", err
	}
	data, err := os.ReadFile(tgz)
	if err != nil {
		return "", "", fmt.Errorf("read agent source: %w", err)
	}
	sum := sha256.Sum256(data)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "stickybucket", "optimizely-agent", hex.EncodeToString(sum[:]))
	bin = filepath.Join(dir, "optimizely")
	if info, err := os.Stat(bin); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
		return bin, fmt.Sprintf("optimizely agent: cached build %s", bin), nil
	}

	started := time.Now()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", fmt.Errorf("agent cache directory: %w", err)
	}
	work, err := os.MkdirTemp("", "agent-src-")
	if err != nil {
		return "", "", fmt.Errorf("agent build directory: %w", err)
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		return "", "", fmt.Errorf("agent build directory: %w", err)
	}
	if out, err := exec.CommandContext(ctx, "tar", "-xzf", tgz, "-C", src).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("untar %s: %w\n%s", tgz, err, out)
	}
	// Built beside its final name and renamed, so a run cut short leaves no
	// half-written binary in the cache and concurrent runs do not collide.
	tmp := filepath.Join(dir, fmt.Sprintf("optimizely.%d.tmp", os.Getpid()))
	cmd := exec.CommandContext(ctx, "bash", script, src, tmp)
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", "", fmt.Errorf("build optimizely agent with %s: %w\n%s", script, err, tail(out, 4000))
	}
	if err := os.Rename(tmp, bin); err != nil {
		_ = os.Remove(tmp)
		return "", "", fmt.Errorf("cache the agent binary: %w", err)
	}
	return bin, fmt.Sprintf("optimizely agent: built %s from %s in %s", bin, tgz, time.Since(started).Round(time.Second)), nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
