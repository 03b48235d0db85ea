package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/stickybucket/stickybucket/cmd/stickybucket/admin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran but something failed (a bad request line, an unreadable file)
	exitUsage = 2 // the command line itself is wrong
)

const usage = `stickybucket: sticky Optimizely-compatible decisions.

Usage:
  stickybucket decide --datafile DATAFILE.json --requests REQUESTS.jsonl --profiles PROFILES.json
  stickybucket compare BEFORE.jsonl AFTER.jsonl
  stickybucket migrate [--config FILE]
  stickybucket profiles get|delete USER [--config FILE]
  stickybucket profiles export [--out FILE] [--config FILE]
  stickybucket profiles import FILE [--config FILE]
  stickybucket help

Run "stickybucket COMMAND -h" for a command's flags.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "decide":
		return runDecide(ctx, args[1:], stdout, stderr)
	case "compare":
		return runCompare(args[1:], stdout, stderr)
	case "migrate":
		return admin.Migrate(ctx, args[1:], stdout, stderr)
	case "profiles":
		return admin.Profiles(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "stickybucket: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}
