package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
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
  stickybucket serve [--config FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT] [--datafile [SDKKEY=]PATH]... [--store memory|cassandra]
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
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "stickybucket: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}
