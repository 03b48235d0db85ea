package cassandra

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// Import defaults.
const (
	DefaultImportConcurrency = 32
	// DefaultMaxLineBytes fits the largest valid profile: ups.MaxAssignments
	// entries with IDs at their size limits, even fully \u-escaped.
	DefaultMaxLineBytes = 4 << 20
	// DefaultImportAttempts and DefaultImportRetryBackoff: a save that
	// fails (a write timeout on a busy node) is tried again after 100 ms,
	// 200 ms, 400 ms before the import gives up.
	DefaultImportAttempts     = 4
	DefaultImportRetryBackoff = 100 * time.Millisecond
	// keptBadLines bounds ImportSummary.FirstBadLines; OnBadLine sees all.
	keptBadLines = 100
	// importProgressEvery spaces Progress calls.
	importProgressEvery = 100 * time.Millisecond
)

// ImportOptions configures Store.Import. The zero value is usable.
type ImportOptions struct {
	// Concurrency is how many saves run at once; 0 means
	// DefaultImportConcurrency.
	Concurrency int
	// MaxLineBytes bounds one line; a longer line is a bad line. 0 means
	// DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxAttempts is how many times one profile's save is tried before
	// the import stops; 0 means DefaultImportAttempts, 1 no retry. Saves
	// are upserts, so trying again is safe.
	MaxAttempts int
	// RetryBackoff is the wait before the first retry, doubling for each
	// next one; 0 means DefaultImportRetryBackoff.
	RetryBackoff time.Duration
	// OnBadLine, when set, receives every line that is not a valid
	// profile, as lines finish (not necessarily in line order).
	OnBadLine func(BadLine)
	// Progress, when set, is called every 100 ms or so while lines finish,
	// and once at the end. It and OnBadLine are called from one goroutine,
	// never at the same time.
	Progress func(ImportProgress)
}

// BadLine is an input line that was not imported, and why. Nothing of it
// was written.
type BadLine struct {
	Line int64 // 1-based
	Err  error
}

func (b BadLine) String() string { return fmt.Sprintf("line %d: %v", b.Line, b.Err) }

// ImportProgress is how far an import has come.
type ImportProgress struct {
	Bytes       int64 // of input finished, newlines included
	Lines       int64
	Profiles    int64
	Assignments int64
	Retries     int64
	BadLines    int64
}

// ImportSummary is what an import did. When Import stops on an error, it
// counts the lines finished before it stopped.
type ImportSummary struct {
	Lines       int64 // finished: saved, bad or blank
	Profiles    int64 // saved
	Assignments int64 // saved
	Retries     int64 // saves tried again after a failure
	BadLines    int64
	// ExpiredAssignments were not written: their expires_at had passed.
	ExpiredAssignments int64
	// FirstBadLines holds the first 100 bad lines by line number.
	FirstBadLines []BadLine
	Elapsed       time.Duration
}

// AssignmentsPerSecond is the import's throughput.
func (s ImportSummary) AssignmentsPerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Assignments) / s.Elapsed.Seconds()
}

// Import reads JSON lines of Optimizely profiles (the output of Export, or
// of any tool writing the schema ups.Profile reads) from r and saves each
// as Store.Save does, opts.Concurrency at a time, but keeping what the
// export said of each assignment: its decided_at (so an experiment's reset
// treats it as in the source) and its expires_at (it expires when it would
// have in the source; one already expired is not written, and counted in
// ExpiredAssignments). An entry without them (an export of an older
// version, or a profile from an SDK) is decided now and gets the store's
// retention.
//
// Every save is an upsert, so running an import again writes the same
// assignments. A line that is not a valid profile (bad
// JSON, a missing field, an empty or oversized ID, too long) is reported
// with its number through OnBadLine and in the summary, nothing of it is
// written, and the import goes on. Blank lines are skipped but counted.
//
// A save that fails is tried again (MaxAttempts, RetryBackoff); one that
// still fails, or a failed read of r, stops the import: no new line
// starts, the saves under way finish, and the error names the line and
// user. Since saves are upserts, the same input can then simply be
// imported again.
func (s *Store) Import(ctx context.Context, r io.Reader, opts ImportOptions) (ImportSummary, error) {
	return importProfiles(ctx, importSaver{s}, r, opts)
}

// importSaver saves an imported profile keeping each assignment's expiry,
// and drops the assignments already expired.
type importSaver struct{ s *Store }

func (i importSaver) Save(ctx context.Context, p ups.Profile) error {
	return i.s.save(ctx, p, true)
}

func (i importSaver) now() time.Time { return i.s.opts.Now() }

// profileSaver is what an import needs of a store.
type profileSaver interface {
	Save(ctx context.Context, p ups.Profile) error
}

type importJob struct {
	line    int64
	data    []byte
	bytes   int64
	tooLong bool
}

type importResult struct {
	line        int64
	bytes       int64
	saved       bool
	assignments int
	expired     int
	retries     int
	bad         error
	fatal       error
}

func importProfiles(ctx context.Context, dst profileSaver, r io.Reader, opts ImportOptions) (ImportSummary, error) {
	started := time.Now()
	opts = opts.withDefaults()
	jobs := make(chan importJob, 2*opts.Concurrency)
	results := make(chan importResult, 2*opts.Concurrency)
	stop := make(chan struct{}) // closed on the first fatal error
	var stopOnce sync.Once

	var workers sync.WaitGroup
	for range opts.Concurrency {
		workers.Go(func() {
			for j := range jobs {
				select {
				case <-stop:
					continue // drain: lines not started are not counted
				default:
				}
				res := importLine(ctx, dst, j, opts)
				if res.fatal != nil {
					stopOnce.Do(func() { close(stop) }) // at once, not when collected
				}
				results <- res
			}
		})
	}

	var (
		sum       ImportSummary
		fatal     error
		collected = make(chan struct{})
	)
	go func() {
		defer close(collected)
		sum, fatal = collectImport(results, opts)
	}()

	readErr := readLines(r, opts.MaxLineBytes, jobs, stop)
	close(jobs)
	workers.Wait()
	close(results)
	<-collected

	sum.FirstBadLines = firstBadLines(sum.FirstBadLines)
	sum.Elapsed = time.Since(started)
	if fatal != nil {
		return sum, fatal
	}
	if readErr != nil {
		return sum, readErr
	}
	return sum, nil
}

// withDefaults fills in what zero options mean.
func (opts ImportOptions) withDefaults() ImportOptions {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultImportConcurrency
	}
	if opts.MaxLineBytes <= 0 {
		opts.MaxLineBytes = DefaultMaxLineBytes
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultImportAttempts
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = DefaultImportRetryBackoff
	}
	return opts
}

// collectImport counts the results until results closes, reporting bad
// lines and progress as opts asks, and returns the summary (without its
// elapsed time) and the first fatal error. Results after a fatal one are
// still counted; their lines were started before the import stopped.
func collectImport(results <-chan importResult, opts ImportOptions) (sum ImportSummary, fatal error) {
	var p ImportProgress
	last := time.Now()
	for res := range results {
		if res.fatal != nil {
			if fatal == nil {
				fatal = res.fatal
			}
			continue
		}
		p.Lines++
		p.Bytes += res.bytes
		p.Retries += int64(res.retries)
		switch {
		case res.bad != nil:
			p.BadLines++
			bl := BadLine{Line: res.line, Err: res.bad}
			sum.FirstBadLines = append(sum.FirstBadLines, bl)
			if len(sum.FirstBadLines) > 2*keptBadLines {
				sum.FirstBadLines = firstBadLines(sum.FirstBadLines)
			}
			if opts.OnBadLine != nil {
				opts.OnBadLine(bl)
			}
		case res.saved:
			p.Profiles++
			p.Assignments += int64(res.assignments)
		}
		sum.ExpiredAssignments += int64(res.expired)
		if opts.Progress != nil && time.Since(last) >= importProgressEvery {
			opts.Progress(p)
			last = time.Now()
		}
	}
	if opts.Progress != nil {
		opts.Progress(p)
	}
	sum.Lines, sum.Profiles, sum.Assignments, sum.Retries, sum.BadLines = p.Lines, p.Profiles, p.Assignments, p.Retries, p.BadLines
	return sum, fatal
}

func firstBadLines(b []BadLine) []BadLine {
	slices.SortFunc(b, func(x, y BadLine) int { return cmp.Compare(x.Line, y.Line) })
	return b[:min(len(b), keptBadLines)]
}

// readLines splits r into jobs until it ends, fails or stop closes.
func readLines(r io.Reader, maxLine int, jobs chan<- importJob, stop <-chan struct{}) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var line int64
	for {
		data, n, tooLong, err := nextLine(br, maxLine)
		eof := errors.Is(err, io.EOF)
		if err != nil && !eof {
			// The line may be cut short: import nothing of it.
			return fmt.Errorf("cassandra: import: read line %d: %w", line+1, err)
		}
		if n == 0 {
			return nil // the end, after a newline or of an empty input
		}
		line++
		if line == 1 {
			data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a UTF-8 byte order mark
		}
		select {
		case jobs <- importJob{line: line, data: data, bytes: n, tooLong: tooLong}:
		case <-stop:
			return nil
		}
		if eof {
			return nil
		}
	}
}

// nextLine returns the next line of br without its line ending, as a copy,
// and the number of bytes it took up. A line longer than maxLine is
// consumed but not returned (tooLong). err is io.EOF at the end of the
// input, with n > 0 when a last line had no newline.
func nextLine(br *bufio.Reader, maxLine int) (data []byte, n int64, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		if !tooLong {
			if len(data)+len(chunk) > maxLine+2 { // room for "\r\n"
				tooLong, data = true, nil
			} else {
				data = append(data, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		data = bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
		if !tooLong && len(data) > maxLine {
			tooLong, data = true, nil
		}
		return data, n, tooLong, err
	}
}

// importLine parses and saves one line, trying the save again after a
// failure that is not the profile's fault.
func importLine(ctx context.Context, dst profileSaver, j importJob, opts ImportOptions) importResult {
	res := importResult{line: j.line, bytes: j.bytes}
	if j.tooLong {
		res.bad = fmt.Errorf("%w: line is longer than %d bytes", ups.ErrInvalidProfile, opts.MaxLineBytes)
		return res
	}
	if len(bytes.TrimSpace(j.data)) == 0 {
		return res
	}
	var p ups.Profile
	if err := json.Unmarshal(j.data, &p); err != nil {
		if !errors.Is(err, ups.ErrInvalidProfile) {
			err = fmt.Errorf("%w: not JSON: %v", ups.ErrInvalidProfile, err)
		}
		res.bad = err
		return res
	}
	if c, ok := dst.(interface{ now() time.Time }); ok {
		now := c.now()
		for expID, a := range p.Assignments {
			if !a.ExpiresAt.IsZero() && !a.ExpiresAt.After(now) {
				delete(p.Assignments, expID)
				res.expired++
			}
		}
		if p.Empty() {
			return res
		}
	}
	backoff := opts.RetryBackoff
	for attempt := 1; ; attempt++ {
		err := dst.Save(ctx, p)
		switch {
		case err == nil:
			res.saved, res.assignments = true, len(p.Assignments)
			return res
		case errors.Is(err, ups.ErrInvalidProfile):
			res.bad = err
			return res
		case attempt >= opts.MaxAttempts || ctx.Err() != nil:
			res.fatal = fmt.Errorf("cassandra: import line %d (user %q), %d attempts: %w", j.line, p.UserID, attempt, err)
			return res
		}
		res.retries++
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		backoff *= 2
	}
}
