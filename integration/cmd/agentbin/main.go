// Command agentbin prints the path of Optimizely Agent's binary, built from
// its source tarball and cached by package agentbuild (the same build the
// integration tests use), building it first if it is not cached. Run it
// from the repository (go run ./integration/cmd/agentbin); it says on
// stderr whether it built or found the binary. It exits 2 when Agent's
// source is not on this machine (set AGENT_SRC_TGZ), 1 on other errors.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/stickybucket/stickybucket/integration/agentbuild"
)

func main() {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "agentbin: find the repository: %v\n", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin, note, err := agentbuild.Binary(ctx, strings.TrimSpace(string(root)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "agentbin: %v\n", err)
		if errors.Is(err, agentbuild.ErrNoSource) {
			fmt.Fprintf(os.Stderr, "agentbin: set AGENT_SRC_TGZ to Agent's source tarball (%s)\n", agentbuild.TarballName)
			os.Exit(2)
		}
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, note)
	fmt.Println(bin)
}
