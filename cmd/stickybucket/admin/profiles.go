package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/cassandra"
)

const profilesUsage = `Usage: stickybucket profiles COMMAND [flags] [ARGUMENTS]

Commands:
  get USER          print a user's live assignments with decision and expiry times
  delete USER       erase every assignment of a user
  export            write every profile as JSON lines (Optimizely's schema)
  import FILE       save the profiles of a JSON-lines file (- for standard input)

Every command reads the cluster and environment from --config FILE
(default stickybucket.yaml). Run "stickybucket profiles COMMAND -h" for its flags.
`

// Profiles runs `stickybucket profiles COMMAND`.
func Profiles(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, profilesUsage)
		return exitUsage
	}
	switch args[0] {
	case "get":
		return profilesGet(ctx, args[1:], stdout, stderr)
	case "delete":
		return profilesDelete(ctx, args[1:], stderr)
	case "export":
		return profilesExport(ctx, args[1:], stdout, stderr)
	case "import":
		return profilesImport(ctx, args[1:], stdin, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, profilesUsage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "stickybucket profiles: unknown command %q\n\n%s", args[0], profilesUsage)
		return exitUsage
	}
}

// assignmentView is one assignment as `profiles get` prints it: the
// Optimizely entry plus the store's times.
type assignmentView struct {
	VariationID string     `json:"variation_id"`
	DecidedAt   *time.Time `json:"decided_at"` // null when the store does not know
	ExpiresAt   *time.Time `json:"expires_at"` // null when it never expires
}

// profileView keeps Optimizely's profile schema, so the output is still a
// valid profile for readers that ignore unknown keys.
type profileView struct {
	UserID    string                    `json:"user_id"`
	BucketMap map[string]assignmentView `json:"experiment_bucket_map"`
}

func timeOrNull(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func profilesGet(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("profiles get", " USER",
		"Prints the user's live assignments as JSON in Optimizely's profile schema, each with\n"+
			"decided_at (when it was saved) and expires_at (null: never).", stderr)
	pos, status, ok := c.parse(args, 1)
	if !ok {
		return status
	}
	store, done, ok := c.open(ctx, false)
	if !ok {
		return exitFail
	}
	defer done()
	p, err := store.Lookup(ctx, pos[0])
	if err != nil {
		c.log.Error("look up profile", "err", err)
		return exitFail
	}
	view := profileView{UserID: p.UserID, BucketMap: make(map[string]assignmentView, len(p.Assignments))}
	for expID, a := range p.Assignments {
		// Cassandra keeps TTLs in whole seconds: more digits would be noise.
		view.BucketMap[expID] = assignmentView{VariationID: a.VariationID, DecidedAt: timeOrNull(a.DecidedAt), ExpiresAt: timeOrNull(a.ExpiresAt.Round(time.Second))}
	}
	out, err := json.MarshalIndent(view, "", "  ")
	if err != nil {
		c.log.Error("encode profile", "err", err)
		return exitFail
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", out); err != nil {
		c.log.Error("write profile", "err", err)
		return exitFail
	}
	if p.Empty() {
		fmt.Fprintf(stderr, "user %q has no live assignments\n", p.UserID)
	}
	return exitOK
}

func profilesDelete(ctx context.Context, args []string, stderr io.Writer) int {
	c := newCommand("profiles delete", " USER",
		"Erases every assignment of USER (one partition tombstone). Deleting an unknown user\n"+
			"is not an error.", stderr)
	pos, status, ok := c.parse(args, 1)
	if !ok {
		return status
	}
	store, done, ok := c.open(ctx, false)
	if !ok {
		return exitFail
	}
	defer done()
	if err := store.Delete(ctx, pos[0]); err != nil {
		c.log.Error("delete profile", "err", err)
		return exitFail
	}
	fmt.Fprintf(stderr, "deleted every assignment of user %q\n", pos[0])
	return exitOK
}

func profilesExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("profiles export", "",
		"Writes every live profile as one JSON line in Optimizely's schema, in token order\n"+
			"(not sorted by user ID). Reads the table by token ranges, several at once.", stderr)
	out := c.fs.String("out", "", "write to `file` (replaced only when the export succeeds) instead of standard output")
	ranges := c.fs.Int("ranges", cassandra.DefaultExportRanges, "token ranges to split the ring into")
	concurrency := c.fs.Int("concurrency", cassandra.DefaultExportConcurrency, "token ranges read at once")
	consistency := c.fs.String("consistency", "", "consistency `level` of the reads (default: the environment's read_consistency)")
	c.withFlags("[--out FILE] [--ranges N] [--concurrency N] [--consistency LEVEL]")
	if _, status, ok := c.parse(args, 0); !ok {
		return status
	}
	if *ranges < 1 || *concurrency < 1 {
		fmt.Fprintln(stderr, "stickybucket profiles export: --ranges and --concurrency must be at least 1")
		return exitUsage
	}
	opts := cassandra.ExportOptions{Ranges: *ranges, Concurrency: *concurrency}
	if *consistency != "" {
		level, err := cassandra.ParseConsistency(*consistency)
		if err != nil || level == gocql.Any {
			fmt.Fprintf(stderr, "stickybucket profiles export: --consistency %q is not a read consistency level\n", *consistency)
			return exitUsage
		}
		opts.Consistency = level
	}
	store, done, ok := c.open(ctx, false)
	if !ok {
		return exitFail
	}
	defer done()

	w, commit, abort, err := output(*out, stdout)
	if err != nil {
		c.log.Error("create output", "err", err)
		return exitFail
	}
	bar := newProgress(stderr, "export", int64(*ranges), false)
	opts.Progress = func(p cassandra.ExportProgress) {
		bar.update(int64(p.RangesDone), fmt.Sprintf("%d/%d token ranges, %d profiles, %d assignments", p.RangesDone, p.Ranges, p.Profiles, p.Rows))
	}
	sum, err := store.Export(ctx, w, opts)
	bar.finish()
	if err == nil {
		err = commit()
	} else {
		abort()
	}
	if err != nil {
		c.log.Error("export", "err", err, "profiles_written", sum.Profiles)
		return exitFail
	}
	fmt.Fprintf(stderr, "exported %d profiles (%d assignments) from %d token ranges in %s\n",
		sum.Profiles, sum.Rows, sum.Ranges, sum.Elapsed.Round(time.Millisecond))
	return exitOK
}

// output returns where an export goes: stdout, or a temporary file next to
// path that commit renames into place and abort removes.
func output(path string, stdout io.Writer) (w io.Writer, commit func() error, abort func(), err error) {
	if path == "" {
		return stdout, func() error { return nil }, func() {}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, nil, nil, err
	}
	commit = func() error {
		if err := f.Sync(); err != nil {
			f.Close()
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := os.Rename(f.Name(), path); err != nil {
			os.Remove(f.Name())
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	abort = func() {
		f.Close()
		os.Remove(f.Name())
	}
	return f, commit, abort, nil
}

// maxPrintedBadLines bounds the bad lines import prints; the summary
// counts them all.
const maxPrintedBadLines = 100

func profilesImport(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) int {
	c := newCommand("profiles import", " FILE|-",
		"Saves every profile of FILE (JSON lines in Optimizely's schema, such as an export;\n"+
			"- reads standard input). Upserts: importing again writes the same assignments, with\n"+
			"their retention counted from the import. A line that is not a valid profile is\n"+
			"reported with its number and skipped; the exit status is then 1.", stderr)
	concurrency := c.fs.Int("concurrency", cassandra.DefaultImportConcurrency, "saves running at once")
	c.withFlags("[--concurrency N]")
	pos, status, ok := c.parse(args, 1)
	if !ok {
		return status
	}
	if *concurrency < 1 {
		fmt.Fprintln(stderr, "stickybucket profiles import: --concurrency must be at least 1")
		return exitUsage
	}
	in, size := stdin, int64(-1)
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			c.log.Error("open input", "err", err)
			return exitFail
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			size = st.Size()
		}
		in = f
	}
	store, done, ok := c.open(ctx, false)
	if !ok {
		return exitFail
	}
	defer done()

	bar := newProgress(stderr, "import", size, true)
	printed := 0
	sum, err := store.Import(ctx, in, cassandra.ImportOptions{
		Concurrency: *concurrency,
		OnBadLine: func(b cassandra.BadLine) {
			if printed < maxPrintedBadLines {
				bar.println(b.String())
			} else if printed == maxPrintedBadLines {
				bar.println(fmt.Sprintf("more than %d bad lines; the rest are only counted", maxPrintedBadLines))
			}
			printed++
		},
		Progress: func(p cassandra.ImportProgress) {
			bar.update(p.Bytes, fmt.Sprintf("%d lines, %d profiles, %d assignments, %d bad lines", p.Lines, p.Profiles, p.Assignments, p.BadLines))
		},
	})
	bar.finish()
	fmt.Fprintf(stderr, "imported %d profiles (%d assignments) from %d lines in %s, %.0f assignments/s; %d bad lines, %d saves retried, %d assignments already expired not written\n",
		sum.Profiles, sum.Assignments, sum.Lines, sum.Elapsed.Round(time.Millisecond), sum.AssignmentsPerSecond(), sum.BadLines, sum.Retries, sum.ExpiredAssignments)
	if err != nil {
		c.log.Error("import stopped", "err", err)
		return exitFail
	}
	if sum.BadLines > 0 {
		return exitFail
	}
	return exitOK
}
