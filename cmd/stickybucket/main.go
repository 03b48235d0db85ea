package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/stickybucket/stickybucket/cmd/stickybucket/admin"
)

func main() {
	ctx, stop := withSignals(context.Background(), interruptsFor(os.Args[1:])...)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran but something failed (a bad request line, an unreadable file)
	exitUsage = 2 // the command line itself is wrong
	// exitInterrupted: SIGINT, SIGTERM or SIGHUP ended the run early, and
	// what it had completed is saved. It differs from the shell's 128+n
	// for a process the signal killed, which saved nothing.
	exitInterrupted = 3
)

// signalNames are the signals that end a run the same way: what Ctrl-C,
// docker stop, systemd, Kubernetes, timeout and a closed terminal send.
var signalNames = map[os.Signal]string{
	os.Interrupt:    "SIGINT",
	syscall.SIGTERM: "SIGTERM",
	syscall.SIGHUP:  "SIGHUP",
}

// interruptsFor returns the signals that end the command args runs: all
// of signalNames, but for serve, which catches SIGHUP itself to reload its
// datafiles and must not stop for it.
func interruptsFor(args []string) []os.Signal {
	if len(args) > 0 && args[0] == "serve" {
		return []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	return slices.Collect(maps.Keys(signalNames))
}

// interruption is the cause of a context cancelled by a signal.
type interruption struct{ sig os.Signal }

func (i interruption) Error() string { return "interrupted by " + signalNames[i.sig] }

// withSignals returns a context cancelled, with an interruption as its
// cause, by the first of sigs to arrive. Later signals stay caught
// and are ignored, so a second Ctrl-C cannot cut the save of the profiles
// file short (SIGKILL still can; the file is then left as it was). stop
// ends the goroutine and restores the signals' default behaviour.
func withSignals(parent context.Context, sigs ...os.Signal) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		first := true
		for {
			select {
			case s := <-ch:
				if first {
					cancel(interruption{s})
					first = false
				}
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
		<-finished
		cancel(context.Canceled)
	}
}

const usage = `stickybucket: sticky Optimizely-compatible decisions.

Usage:
  stickybucket decide --datafile DATAFILE.json --requests REQUESTS.jsonl --profiles PROFILES.json
  stickybucket compare BEFORE.jsonl AFTER.jsonl
  stickybucket serve [--config FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT]
                     [--datafile [SDKKEY=]PATH|URL]... [--sdk-key SDKKEY]... [--datafile-url-template URL]
                     [--store memory|cassandra] [--migrate] [--events-url URL]
  stickybucket health [--url URL | --config FILE] [--ready] [--timeout DURATION] [--insecure]
  stickybucket migrate [--config FILE]
  stickybucket profiles get|delete USER [--config FILE]
  stickybucket profiles export [--out FILE] [--ranges N] [--concurrency N]
                               [--consistency LEVEL] [--config FILE]
  stickybucket profiles import FILE|- [--concurrency N] [--config FILE]
  stickybucket client-secret
  stickybucket version
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
		return runDecide(ctx, args[1:], stdin, stdout, stderr)
	case "compare":
		return runCompare(args[1:], stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stderr)
	case "health":
		return runHealth(ctx, args[1:], stdout, stderr)
	case "migrate":
		return admin.Migrate(ctx, args[1:], stdout, stderr)
	case "profiles":
		return admin.Profiles(ctx, args[1:], stdin, stdout, stderr)
	case "client-secret":
		return runClientSecret(args[1:], rand.Reader, stdout, stderr)
	case "version", "-version", "--version":
		return runVersion(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "stickybucket: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
}
