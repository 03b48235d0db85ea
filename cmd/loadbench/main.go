package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
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

// routeMap collects repeated --route flags.
type routeMap map[string]Route

func (m routeMap) String() string {
	var parts []string
	for name, r := range m {
		parts = append(parts, name+"="+string(r))
	}
	return strings.Join(parts, " ")
}

func (m routeMap) Set(s string) error {
	name, raw, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("route %q: want NAME=ROUTE, ROUTE one of %s", s, routeNames())
	}
	r, err := parseRoute(raw)
	if err != nil {
		return err
	}
	m[name] = r
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
	// cpuProfile is a file for the driver's own CPU profile; chartFrom an
	// earlier run's JSON whose chart is all there is to draw.
	cpuProfile, chartFrom string
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
	routesGiven := routeMap{}
	fs.Var(routesGiven, "route", "`NAME=ROUTE`: what target NAME is asked, one of "+routeNames()+" (repeatable; default decide)")
	flagKey := fs.String("flag", "", "flag `key` every decide request decides (required for the decide route)")
	sdkKey := fs.String("sdk-key", "", "X-Optimizely-SDK-Key header `value` (required for the decide and lookup routes)")
	saveProfile := fs.String("save-profile", DefaultSaveProfile, "experiment_bucket_map `JSON` every ups-save request sends")
	clients := fs.Int("clients", DefaultClients, "concurrent keep-alive `clients` per target (with --rate: the bound on requests in flight)")
	rate := fs.Float64("rate", 0, "open loop: `requests` per second per target, sent on schedule whatever the answers, latency from each one's intended time (0: closed loop)")
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
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write the driver's own CPU profile to this `file` (to see what the driver costs)")
	fs.StringVar(&o.chartFrom, "chart-from", "", "measure nothing: draw the --svg chart of an earlier run's --out `file`")
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
	if o.chartFrom != "" {
		if o.svg == "" {
			fmt.Fprintln(stderr, "loadbench: --chart-from needs --svg")
			return cfg, o, exitUsage, false
		}
		return cfg, o, exitOK, true
	}
	for name, r := range routesGiven {
		i := slices.IndexFunc(targets, func(t Target) bool { return t.Name == name })
		if i < 0 {
			fmt.Fprintf(stderr, "loadbench: route of %q: not a target\n", name)
			return cfg, o, exitUsage, false
		}
		targets[i].Route = r
	}
	cfg = Config{
		Targets: targets, Flag: *flagKey, SDKKey: *sdkKey, Clients: *clients, Users: *users, Seed: *seed,
		Rounds: *rounds, Duration: *duration, MaxRequests: *maxRequests, Warmup: *warmup, Timeout: *timeout,
		Rate: *rate,
	}
	if slices.ContainsFunc(targets, func(t Target) bool { return t.Route == RouteUPSSave }) {
		raw, err := parseSaveProfile(*saveProfile)
		if err != nil {
			fmt.Fprintf(stderr, "loadbench: %v\n", err)
			return cfg, o, exitUsage, false
		}
		cfg.SaveProfile = raw
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
	if o.chartFrom != "" {
		return chartOnly(o.chartFrom, o.svg, stderr)
	}
	perTarget := time.Duration(cfg.Rounds) * (cfg.Warmup + cfg.Duration)
	mode := "closed loop"
	if cfg.Rate > 0 {
		mode = fmt.Sprintf("open loop at %g requests/s per target", cfg.Rate)
	}
	fmt.Fprintf(stderr, "loadbench: %d target(s), %s, %d rounds of %v (+%v warm-up) each: about %v\n",
		len(cfg.Targets), mode, cfg.Rounds, cfg.Duration, cfg.Warmup, time.Duration(len(cfg.Targets))*perTarget)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "loadbench: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "loadbench: cpu profile: %v\n", err)
			return exitFail
		}
		defer pprof.StopCPUProfile()
	}
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

// chartOnly draws the chart of a results file to svg.
func chartOnly(from, svg string, stderr io.Writer) int {
	raw, err := os.ReadFile(from)
	if err != nil {
		fmt.Fprintf(stderr, "loadbench: %v\n", err)
		return exitFail
	}
	var rep Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		fmt.Fprintf(stderr, "loadbench: %s: %v\n", from, err)
		return exitFail
	}
	if err := writeSVG(svg, &rep); err != nil {
		fmt.Fprintf(stderr, "loadbench: %v\n", err)
		return exitFail
	}
	return exitOK
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

// printSummary writes a table of the targets' figures, and their ratios
// to the baseline. Target CPU columns show "?" for a target without --pid;
// the open loop adds the late and unsent requests, the send delay and
// whether the rate was held.
func printSummary(w io.Writer, r *Report) {
	open := r.Setup.RatePerSecond > 0
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "target\treq/s\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms\tok\tnon-2xx\ttransport\tbad\tconns\tcores: machine\tdriver\ttarget\tother\ttarget µs/req\t"
	if open {
		head += "late %\tunsent\tsend delay p99 ms\theld\t"
	}
	fmt.Fprintln(tw, head)
	for _, t := range r.Targets {
		l := t.Load
		target, other, perReq := "?", "?", "?"
		if _, ok := r.Setup.PIDs[t.Name]; ok {
			target, other = fmt.Sprintf("%.2f", l.TargetCores), fmt.Sprintf("%.2f", l.OtherCores)
			perReq = fmt.Sprintf("%.1f", l.TargetCPUPerRequestUS)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%s\t%s\t%s\t",
			t.Name, t.RequestsPerSecond, t.Latency.P50, t.Latency.P90, t.Latency.P99, t.Latency.P999, t.Latency.Max,
			t.OK, t.Non2xx, t.TransportErrors, t.BadResponses, t.Connections, l.MachineBusyCores, l.DriverCores, target, other, perReq)
		if o := t.OpenLoop; open && o != nil {
			fmt.Fprintf(tw, "%.2f\t%d\t%.3f\t%s\t", o.LatePercent, o.Unsent, o.SendDelay.P99, yesNo(o.Held))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	if c := r.Comparison; c != nil {
		for _, row := range c.Targets {
			fmt.Fprintf(w, "%s vs %s: %.2f× requests/s, p50 ×%.2f, p99 ×%.2f", row.Name, c.Baseline,
				row.RequestsPerSecondRatio, row.P50Ratio, row.P99Ratio)
			if row.CPUPerRequestRatio > 0 {
				fmt.Fprintf(w, ", CPU per request ×%.2f", row.CPUPerRequestRatio)
			}
			if row.BothHeld != nil {
				fmt.Fprintf(w, ", rate held by both: %s", yesNo(*row.BothHeld))
			}
			fmt.Fprintln(w)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
