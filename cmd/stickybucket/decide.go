package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/stack"
	"github.com/stickybucket/stickybucket/ups"
)

// maxRequestLine bounds one request line, so a file without newlines
// cannot make the tool buffer it whole.
const maxRequestLine = 1 << 20

// decideFlags are decide's command line.
type decideFlags struct {
	datafile, requests, profiles string
}

func parseDecideFlags(args []string, stderr io.Writer) (decideFlags, int, bool) {
	var f decideFlags
	fs := flag.NewFlagSet("decide", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.datafile, "datafile", "", "Optimizely datafile (version 4) `file`")
	fs.StringVar(&f.requests, "requests", "", "requests `file`, one JSON object per line (- for standard input)")
	fs.StringVar(&f.profiles, "profiles", "", "profiles `file`: a JSON array of Optimizely profiles, read if it exists and written back after the run")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: stickybucket decide --datafile DATAFILE.json --requests REQUESTS.jsonl --profiles PROFILES.json")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "Exit status: 0 ok, 1 bad lines or a file error, 2 usage, 3 interrupted (SIGINT, SIGTERM, SIGHUP) with the completed decisions saved.")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, exitOK, false
		}
		return f, exitUsage, false
	}
	if f.datafile == "" || f.requests == "" || f.profiles == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "stickybucket decide: --datafile, --requests and --profiles are required, and nothing else")
		fs.Usage()
		return f, exitUsage, false
	}
	return f, exitOK, true
}

// runDecide is `stickybucket decide`: the datafile and the profiles file
// are read, the composition root builds a decision client over the
// profiles, every request is decided, and the profiles are written back
// (also after bad lines or an interruption).
func runDecide(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f, code, ok := parseDecideFlags(args, stderr)
	if !ok {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	raw, err := os.ReadFile(f.datafile)
	if err != nil {
		log.Error("read datafile", "err", err)
		return exitFail
	}
	df, err := decision.ParseDatafile(raw)
	if err != nil {
		log.Error("load datafile", "file", f.datafile, "err", err)
		return exitFail
	}
	store := newProfileTable()
	if code, ok := loadProfileTable(ctx, store, f.profiles, log); !ok {
		return code
	}
	// The composition root builds the client, as for the service, over
	// the profiles file's table.
	cfg, err := config.Parse(nil, nil)
	if err != nil {
		log.Error("configuration", "err", err)
		return exitFail
	}
	st, err := stack.Open(ctx, cfg, stack.Options{Store: store, Log: log})
	if err != nil {
		log.Error("create profile stack", "err", err)
		return exitFail
	}
	// The stack is closed before the profiles are saved, so every layer
	// has written into the table, and again on the way out, which then
	// does nothing. A signal must not cut the close short: it does not
	// use ctx.
	closeStack := func() error { return st.Close(context.WithoutCancel(ctx)) }
	defer closeStack()
	client, err := st.NewClient(df)
	if err != nil {
		log.Error("create decision client", "err", err)
		return exitFail
	}
	in := stdin
	if f.requests != "-" {
		file, err := os.Open(f.requests)
		if err != nil {
			log.Error("open requests", "err", err)
			return exitFail
		}
		defer file.Close()
		in = file
	}
	stats, err := decideFrom(ctx, client, in, stdout, log)
	closeErr := closeStack()
	if closeErr != nil {
		log.Error("close profile stack; decisions may be missing from the profiles file", "err", closeErr)
	}
	// Profiles are written back even after bad lines or an interruption:
	// every completed decision's assignments must stay sticky for the next
	// run. Signals arriving now are caught and ignored, so the save
	// finishes.
	if serr := saveProfiles(f.profiles, store.All()); serr != nil {
		log.Error("save profiles", "err", serr)
		return exitFail
	}
	status := decideStatus(ctx, stats, err, log)
	if closeErr != nil && status == exitOK {
		status = exitFail
	}
	return status
}

// loadProfileTable fills store from the profiles file at path, if there is
// one, and warns when replacing the file later will not reach its other
// hard links. When ok is false the command must return code.
func loadProfileTable(ctx context.Context, store *profileTable, path string, log *slog.Logger) (code int, ok bool) {
	if err := loadProfiles(ctx, path, func(p ups.Profile) error { return store.Save(ctx, p) }); err != nil {
		if interrupted(ctx, err) {
			// Nothing was decided yet: the file stays as it was.
			log.Warn("interrupted while loading profiles; nothing decided, the profiles file is unchanged", "cause", context.Cause(ctx))
			return exitInterrupted, false
		}
		log.Error("load profiles", "err", err)
		return exitFail, false
	}
	if info, err := os.Stat(path); err == nil && hardLinks(info) > 1 {
		log.Warn("the profiles file has other hard links; they will keep the old content, since the file is replaced by a rename",
			"file", path, "links", hardLinks(info))
	}
	return exitOK, true
}

// decideFrom decides every request of in onto stdout. After an
// interruption it closes the input, so a reader blocked on a pipe or FIFO
// returns now (on standard input it may stay blocked until the process
// exits).
func decideFrom(ctx context.Context, client *decision.Client, in io.Reader, stdout io.Writer, log *slog.Logger) (decideStats, error) {
	out := bufio.NewWriter(stdout)
	stats, err := decideAll(ctx, client, in, out, log)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if interrupted(ctx, err) {
		if c, ok := in.(io.Closer); ok {
			c.Close()
		}
	}
	return stats, err
}

// decideStatus is decide's exit status once the profiles are saved, with
// what the run should tell its user.
func decideStatus(ctx context.Context, stats decideStats, err error, log *slog.Logger) int {
	if stats.deprecated > 0 {
		log.Warn("request lines use deprecated field names; write userId, userAttributes and decideOptions, as the HTTP API does",
			"deprecated", strings.Join(stats.oldNames, ", "), "lines", stats.deprecated)
	}
	if interrupted(ctx, err) {
		log.Warn("interrupted; the decisions printed are saved in the profiles file, the request in flight was not decided",
			"cause", context.Cause(ctx), "requests", stats.requests)
		return exitInterrupted
	}
	if err != nil {
		log.Error("decide", "err", err)
		return exitFail
	}
	if stats.warnings > 0 {
		log.Warn("some requests were decided without stickiness; see their \"warning\"", "requests", stats.requests, "warnings", stats.warnings)
	}
	if stats.badLines > 0 || stats.storeErrors > 0 {
		log.Warn("some requests failed", "requests", stats.requests, "bad_lines", stats.badLines, "store_errors", stats.storeErrors)
		if stats.badLines > 0 {
			return exitFail
		}
	}
	return exitOK
}

// interrupted reports whether err is ctx's cancellation: a signal ended
// the run.
func interrupted(ctx context.Context, err error) bool {
	return err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled)
}

type decideStats struct {
	requests, badLines, storeErrors int
	warnings                        int // lines decided with a "warning"
	// deprecated counts the lines that used the old field names, listed
	// in oldNames.
	deprecated int
	oldNames   []string
}

// inputLine is one line read by decideAll's reader goroutine.
type inputLine struct {
	text    []byte
	tooLong bool
	err     error
}

// decideAll streams requests from in to out, one output line per request
// line. Blank lines are skipped but still counted, so the line numbers of
// error lines match the file. Output is flushed whenever no further input
// is ready, so a caller feeding requests through a pipe sees each answer.
//
// When ctx is cancelled (a signal) it stops at once, even while waiting
// for input, and returns ctx's error: the line being read is dropped, and
// a request whose decision was cut short by the cancellation (its profile
// lookup or save failed with it) is neither printed nor saved. Every line
// printed before is decided in full and its assignments are in the store.
// The reader goroutine then stays blocked in its read until in is closed
// or ends; the caller closes it.
func decideAll(ctx context.Context, client *decision.Client, in io.Reader, out *bufio.Writer, log *slog.Logger) (decideStats, error) {
	var stats decideStats
	stop := make(chan struct{})
	defer close(stop)
	lines := readLines(in, stop)
	enc := json.NewEncoder(out)
	// User IDs and keys are echoed as given: HTML escaping would only
	// grow a line of "<" sixfold.
	enc.SetEscapeHTML(false)
	for lineNo := 1; ; lineNo++ {
		var (
			l  inputLine
			ok bool
		)
		select {
		case l, ok = <-lines:
		default:
			if err := out.Flush(); err != nil {
				return stats, fmt.Errorf("write output: %w", err)
			}
			select {
			case l, ok = <-lines:
			case <-ctx.Done():
				return stats, ctx.Err()
			}
		}
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		if !ok {
			return stats, nil
		}
		if l.err != nil {
			return stats, fmt.Errorf("read requests line %d: %w", lineNo, l.err)
		}
		if !l.tooLong && len(bytes.TrimSpace(l.text)) == 0 {
			continue
		}
		var result any
		req, perr := parseRequest(l.text)
		if l.tooLong {
			perr = fmt.Errorf("line longer than %d bytes", maxRequestLine)
		}
		if perr != nil {
			stats.badLines++
			result = errorLine{Line: lineNo, Error: perr.Error()}
		} else {
			var (
				warning string
				derr    error
			)
			result, warning, derr = decide(ctx, client, req)
			if interrupted(ctx, derr) {
				return stats, ctx.Err()
			}
			if derr != nil {
				stats.storeErrors++
				log.Warn("profile store failed; decided without profile", "line", lineNo, "user_id", clip(req.UserID), "err", derr)
			}
			if warning != "" {
				stats.warnings++
			}
			if len(req.Deprecated) > 0 {
				stats.deprecated++
				for _, n := range req.Deprecated {
					if !slices.Contains(stats.oldNames, n) {
						stats.oldNames = append(stats.oldNames, n)
					}
				}
			}
		}
		stats.requests++
		if err := enc.Encode(result); err != nil {
			return stats, fmt.Errorf("write output: %w", err)
		}
	}
}

// readLines reads in on a goroutine of its own, one inputLine at a time,
// until in ends, a read fails (that line carries the error) or stop is
// closed; then it closes the channel. A few lines of read-ahead (at most
// maxRequestLine bytes each) keep the reader ahead of the decisions, so
// output is flushed only when input really stalls.
func readLines(in io.Reader, stop <-chan struct{}) <-chan inputLine {
	lines := make(chan inputLine, 16)
	go func() {
		defer close(lines)
		lr := lineReader{r: bufio.NewReaderSize(in, 64<<10)}
		for {
			text, tooLong, ok, err := lr.next()
			if !ok && err == nil {
				return
			}
			select {
			case lines <- inputLine{bytes.Clone(text), tooLong, err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return lines
}

// lineReader splits input into lines of at most maxRequestLine bytes; a
// longer line is skipped whole and reported, so one bad line cannot make
// the tool buffer an unbounded amount.
type lineReader struct {
	r *bufio.Reader
}

// next returns the next line without its line ending; ok is false at the
// end of the input.
func (lr lineReader) next() (line []byte, tooLong, ok bool, err error) {
	for {
		chunk, err := lr.r.ReadSlice('\n')
		switch {
		case tooLong:
		case len(line)+len(chunk) > maxRequestLine+1:
			tooLong, line = true, nil
		default:
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 && !tooLong {
				return nil, false, false, nil
			}
			err = nil
		}
		if err != nil {
			return nil, false, false, err
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, true, nil
	}
}

type experimentLine struct {
	UserID     string  `json:"user_id"`
	Experiment string  `json:"experiment"`
	Variation  *string `json:"variation"`
	Warning    string  `json:"warning,omitempty"`
}

type flagLine struct {
	UserID    string  `json:"user_id"`
	Flag      string  `json:"flag"`
	Enabled   bool    `json:"enabled"`
	Variation *string `json:"variation"`
	Rule      *string `json:"rule"`
	Warning   string  `json:"warning,omitempty"`
}

type errorLine struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// decide runs one request. The error is a profile store failure only; the
// result is valid alongside it. warning, when not empty, is also in the
// result: something the caller should know about a valid decision.
func decide(ctx context.Context, client *decision.Client, req request) (result any, warning string, err error) {
	u := decision.User{ID: req.UserID, Attributes: req.Attributes, Forced: req.Forced}
	warning = stickinessWarning(req)
	if !req.IsFlag {
		d, err := client.DecideExperiment(ctx, u, req.Experiment, req.Options...)
		return experimentLine{UserID: req.UserID, Experiment: req.Experiment, Variation: orNull(d.VariationKey), Warning: warning}, warning, err
	}
	d, err := client.Decide(ctx, u, req.Flag, req.Options...)
	return flagLine{UserID: req.UserID, Flag: req.Flag, Enabled: d.Enabled, Variation: orNull(d.VariationKey), Rule: orNull(d.RuleKey), Warning: warning}, warning, err
}

// stickinessWarning says why a request that wants a sticky decision cannot
// have one: its user ID is one the profile store cannot key (parseRequest
// has already rejected empty and invalid-UTF-8 IDs, so what remains is
// length). The decision service then decides without a profile.
func stickinessWarning(req request) string {
	if slices.Contains(req.Options, decision.IgnoreUserProfileService) {
		return ""
	}
	if len(req.UserID) > ups.MaxUserIDBytes {
		return fmt.Sprintf("user_id is %d bytes, over the profile store's limit of %d: decided without stickiness, nothing saved", len(req.UserID), ups.MaxUserIDBytes)
	}
	if err := ups.ValidateUserID(req.UserID); err != nil {
		return fmt.Sprintf("decided without stickiness: %v", err)
	}
	return ""
}

func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
