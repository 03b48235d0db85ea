package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the run failed, was interrupted, or some measured request failed
	exitUsage = 2 // the command line is wrong
)

// targetList collects repeated --target flags.
type targetList []Target

func (l *targetList) String() string {
	var parts []string
	for _, t := range *l {
		parts = append(parts, t.Name+"="+t.URL.String())
	}
	return strings.Join(parts, " ")
}

func (l *targetList) Set(s string) error {
	t, err := parseTarget(s)
	if err != nil {
		return err
	}
	*l = append(*l, t)
	return nil
}

// pidMap collects repeated --pid flags.
type pidMap map[string]int

func (m pidMap) String() string {
	var parts []string
	for name, pid := range m {
		parts = append(parts, fmt.Sprintf("%s=%d", name, pid))
	}
	return strings.Join(parts, " ")
}

func (m pidMap) Set(s string) error {
	name, raw, ok := strings.Cut(s, "=")
	pid, err := strconv.Atoi(raw)
	if !ok || name == "" || err != nil || pid <= 0 {
		return fmt.Errorf("pid %q: want NAME=PID", s)
	}
	m[name] = pid
	return nil
}

// outputs are where loadbench writes what it measured, beyond the
// summary on standard output.
type outputs struct {
	// baseline names the target the others are compared with.
	baseline string
	// json and svg are files to write the figures and the latency chart
	// to; empty for none.
	json, svg string
}

// parseFlags reads the command line. When ok is false the command must
// return code.
func parseFlags(args []string, stderr io.Writer) (cfg Config, o outputs, code int, ok bool) {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var targets targetList
	fs.Var(&targets, "target", "`NAME=URL` of a service to measure, on a loopback address (repeatable; measured in this order, in turn)")
	pids := pidMap{}
	fs.Var(pids, "pid", "`NAME=PID` of a target's server process, to report its CPU time (repeatable, optional)")
	flagKey := fs.String("flag", "", "flag `key` every request decides (required)")
	sdkKey := fs.String("sdk-key", "", "X-Optimizely-SDK-Key header `value` (required)")
	clients := fs.Int("clients", DefaultClients, "concurrent keep-alive `clients` per target")
	users := fs.Int("users", DefaultUsers, "distinct users in the pool")
	attrs := fs.String("attributes", "", "optional `JSON` object from attribute name to the values users are given, e.g. '{\"plan\":[\"free\",\"pro\"]}'")
	seed := fs.Uint64("seed", 1, "seed of the users' attributes and of each client's sequence of users")
	rounds := fs.Int("rounds", DefaultRounds, "measured rounds per target (targets take turns)")
	duration := fs.Duration("duration", DefaultDuration, "measured time per target per round")
	maxRequests := fs.Int64("max-requests", DefaultMaxRequests, "request bound per target per round (and per warm-up)")
	warmup := fs.Duration("warmup", 2*time.Second, "unmeasured load on a target before each of its rounds (0: none)")
	timeout := fs.Duration("timeout", DefaultTimeout, "bound on each request")
	fs.StringVar(&o.baseline, "baseline", "", "`name` of the target the others are compared with")
	fs.StringVar(&o.json, "out", "", "write the figures as JSON to this `file`")
	fs.StringVar(&o.svg, "svg", "", "draw latency against percentile as SVG to this `file`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: loadbench --target NAME=URL [--target NAME=URL …] --flag KEY --sdk-key KEY [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, o, exitOK, false
		}
		return cfg, o, exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadbench: unexpected arguments %q\n", fs.Args())
		return cfg, o, exitUsage, false
	}
	cfg = Config{
		Targets: targets, Flag: *flagKey, SDKKey: *sdkKey, Clients: *clients, Users: *users, Seed: *seed,
		Rounds: *rounds, Duration: *duration, MaxRequests: *maxRequests, Warmup: *warmup, Timeout: *timeout,
	}
	if len(pids) > 0 {
		cfg.PIDs = pids
	}
	var err error
	if cfg.Attributes, err = parseAttributes(*attrs); err != nil {
		fmt.Fprintf(stderr, "loadbench: %v\n", err)
		return cfg, o, exitUsage, false
	}
	// Flags that would silently mean "default" as zero are refused here.
	if *clients <= 0 || *users <= 0 || *rounds <= 0 || *duration <= 0 || *maxRequests <= 0 || *timeout <= 0 {
		fmt.Fprintln(stderr, "loadbench: --clients, --users, --rounds, --duration, --max-requests and --timeout must be positive")
		return cfg, o, exitUsage, false
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "loadbench: %v\n", err)
		return cfg, o, exitUsage, false
	}
	if o.baseline != "" && !hasTarget(targets, o.baseline) {
		fmt.Fprintf(stderr, "loadbench: baseline %q is not a target\n", o.baseline)
		return cfg, o, exitUsage, false
	}
	return cfg, o, exitOK, true
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, o, code, ok := parseFlags(args, stderr)
	if !ok {
		return code
	}
	perTarget := time.Duration(cfg.Rounds) * (cfg.Warmup + cfg.Duration)
	fmt.Fprintf(stderr, "loadbench: %d target(s), %d rounds of %v (+%v warm-up) each: about %v\n",
		len(cfg.Targets), cfg.Rounds, cfg.Duration, cfg.Warmup, time.Duration(len(cfg.Targets))*perTarget)
	rep, runErr := Run(ctx, cfg, stderr)
	if rep == nil {
		fmt.Fprintf(stderr, "loadbench: %v\n", runErr)
		return exitFail
	}
	if o.baseline != "" {
		if err := rep.compare(o.baseline); err != nil {
			fmt.Fprintf(stderr, "loadbench: %v\n", err)
			return exitFail
		}
	}
	printSummary(stdout, rep)
	code = exitOK
	if runErr != nil {
		fmt.Fprintf(stderr, "loadbench: run cut short: %v\n", runErr)
		code = exitFail
	}
	if !writeOutputs(o, rep, stderr) {
		code = exitFail
	}
	for _, t := range rep.Targets {
		if n := t.Non2xx + t.TransportErrors + t.BadResponses; n > 0 {
			fmt.Fprintf(stderr, "loadbench: target %q: %d failed requests, e.g. %q\n", t.Name, n, t.ErrorSamples)
			code = exitFail
		}
	}
	return code
}

// writeOutputs writes the JSON figures and the SVG chart o asks for, and
// reports whether both could be written.
func writeOutputs(o outputs, rep *Report, stderr io.Writer) bool {
	ok := true
	if o.json != "" {
		if err := writeJSON(o.json, rep); err != nil {
			fmt.Fprintf(stderr, "loadbench: %v\n", err)
			ok = false
		}
	}
	if o.svg != "" {
		if err := writeSVG(o.svg, rep); err != nil {
			fmt.Fprintf(stderr, "loadbench: %v\n", err)
			ok = false
		}
	}
	return ok
}

func hasTarget(ts []Target, name string) bool {
	for _, t := range ts {
		if t.Name == name {
			return true
		}
	}
	return false
}

func writeSVG(path string, r *Report) error {
	data, err := renderSVG(r)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, data)
}

func printSummary(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\tok\tnon-2xx\ttransport\tbad\tconns\tcores: machine\tdriver\ttarget\tother\t")
	for _, t := range r.Targets {
		l := t.Load
		target, other := "?", "?"
		if _, ok := r.Setup.PIDs[t.Name]; ok {
			target, other = fmt.Sprintf("%.2f", l.TargetCores), fmt.Sprintf("%.2f", l.OtherCores)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%s\t%s\t\n",
			t.Name, t.RequestsPerSecond, t.Latency.P50, t.Latency.P90, t.Latency.P99, t.Latency.P999, t.Latency.Max,
			t.OK, t.Non2xx, t.TransportErrors, t.BadResponses, t.Connections, l.MachineBusyCores, l.DriverCores, target, other)
	}
	tw.Flush()
	if c := r.Comparison; c != nil {
		for _, row := range c.Targets {
			fmt.Fprintf(w, "%s vs %s: %.2f× requests/s, p50 ×%.2f, p99 ×%.2f\n",
				row.Name, c.Baseline, row.RequestsPerSecondRatio, row.P50Ratio, row.P99Ratio)
		}
	}
}
