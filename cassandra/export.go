package cassandra

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2/qb"

	"github.com/stickybucket/stickybucket/ups"
)

// Export defaults.
const (
	DefaultExportRanges      = 256
	DefaultExportConcurrency = 4
	DefaultExportPageSize    = 1000
	// exportBuffer is how many profiles a range read ahead of the writer
	// may hold: it bounds memory while later ranges wait their turn.
	exportBuffer = 256
)

// ExportOptions configures Store.Export. The zero value is usable.
type ExportOptions struct {
	// Ranges is how many token ranges the ring is cut into (SplitRing);
	// 0 means DefaultExportRanges. Each range is one paged query, so more
	// ranges mean shorter queries and finer progress; use several per
	// node and vnode of the cluster.
	Ranges int
	// Concurrency is how many ranges are read at once; 0 means
	// DefaultExportConcurrency.
	Concurrency int
	// PageSize is how many rows one page fetches; 0 means
	// DefaultExportPageSize.
	PageSize int
	// Consistency is the level every page is read at; zero means the
	// store's ReadConsistency (LOCAL_QUORUM unless configured).
	Consistency gocql.Consistency
	// Progress, when set, is called from Export's goroutine after each
	// range has been written.
	Progress func(ExportProgress)
}

// ExportProgress is how far an export has come.
type ExportProgress struct {
	Ranges     int // in all
	RangesDone int // written out
	Rows       int64
	Profiles   int64
}

// ExportSummary is what an export wrote.
type ExportSummary struct {
	Ranges   int
	Rows     int64 // assignments read
	Profiles int64 // JSON lines written
	Elapsed  time.Duration
}

// Export writes every user's live assignments to w as JSON lines, one
// profile per line in Optimizely's schema (ups.Profile's MarshalJSON):
//
//	{"user_id":"u1","experiment_bucket_map":{"1001":{"variation_id":"2001","decided_at":"…","expires_at":"…"}}}
//
// Each entry carries its decision time and, when it expires, its expiry
// (from the row's TTL), so an import keeps both.
//
// It reads the assignments table by token ranges (SplitRing), a bounded
// number at once, each with one prepared, paged query
//
//	SELECT user_id, experiment_id, variation_id, decided_at, TTL(variation_id)
//	FROM <keyspace>.assignments WHERE token(user_id) > ? AND token(user_id) <= ?
//
// at opts.Consistency (by default the store's read consistency). A
// partition lies in exactly one range and its rows come back together, so
// each user is one line. Lines come out in token order, range after range,
// not in user ID order: ranges read ahead of the writer wait, holding a
// bounded number of profiles, until the ranges before them are written.
//
// An export is not a snapshot: assignments saved or expiring while it runs
// may or may not be in it. Expired assignments are never exported. A
// failed range stops the
// export with an error naming it, after the lines of the ranges before it
// have been written.
func (s *Store) Export(ctx context.Context, w io.Writer, opts ExportOptions) (ExportSummary, error) {
	started := time.Now()
	opts = opts.withDefaults()
	session, keyspace, consistency := s.bulkAccess()
	if opts.Consistency != 0 {
		consistency = opts.Consistency
	}
	ranges, err := SplitRing(opts.Ranges)
	if err != nil {
		return ExportSummary{}, err
	}
	stmt, _ := qb.Select(keyspace+"."+assignmentsTable).
		Columns("user_id", "experiment_id", "variation_id", "decided_at", "TTL(variation_id)").
		Where(qb.Token("user_id").GtValue(), qb.Token("user_id").LtOrEqValue()).
		ToCql()
	reader := rangeReader{session: session, stmt: stmt, consistency: consistency, pageSize: opts.PageSize, now: s.opts.Now}

	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	startedScans := startScans(ctx, &wg, reader, ranges, opts.Concurrency)

	sum := ExportSummary{Ranges: len(ranges)}
	bw := bufio.NewWriterSize(w, 64<<10)
	done := 0
	for sc := range startedScans {
		if err := sc.writeTo(ctx, bw, &sum); err != nil {
			_ = bw.Flush() // the lines counted are whole: hand them over
			sum.Elapsed = time.Since(started)
			return sum, err
		}
		if err := bw.Flush(); err != nil {
			sum.Elapsed = time.Since(started)
			return sum, fmt.Errorf("cassandra: export: write: %w", err)
		}
		done++
		sum.Rows += sc.rows
		if opts.Progress != nil {
			opts.Progress(ExportProgress{Ranges: len(ranges), RangesDone: done, Rows: sum.Rows, Profiles: sum.Profiles})
		}
	}
	sum.Elapsed = time.Since(started)
	if done < len(ranges) { // the dispatcher stopped: ctx ended
		return sum, fmt.Errorf("cassandra: export: %d of %d token ranges written: %w", done, len(ranges), ctx.Err())
	}
	return sum, nil
}

// withDefaults fills in what zero options mean.
func (opts ExportOptions) withDefaults() ExportOptions {
	if opts.Ranges <= 0 {
		opts.Ranges = DefaultExportRanges
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultExportConcurrency
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultExportPageSize
	}
	return opts
}

// startScans starts reading the ranges, at most concurrency at once, on
// goroutines counted by wg, and sends each scan, in token order, as it
// starts; the channel closes after the last range, or when ctx ends.
//
// Ranges start in token order and reach the writer in that order, so the
// range the writer waits for has always started: the ones after it can
// only fill their buffers. At most 2×concurrency ranges are read or wait
// to be written, so memory does not grow with the number of ranges.
func startScans(ctx context.Context, wg *sync.WaitGroup, reader rangeReader, ranges []TokenRange, concurrency int) <-chan *rangeScan {
	sem := make(chan struct{}, concurrency)
	startedScans := make(chan *rangeScan, concurrency)
	wg.Go(func() {
		defer close(startedScans)
		for _, r := range ranges {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			sc := &rangeScan{r: r, out: make(chan ups.Profile, exportBuffer)}
			wg.Go(func() {
				defer func() { <-sem }()
				sc.rows, sc.err = reader.read(ctx, sc.r, sc.out)
				close(sc.out)
			})
			// A range that finished frees its slot before it is written,
			// so this may wait for the writer.
			select {
			case startedScans <- sc:
			case <-ctx.Done():
				return
			}
		}
	})
	return startedScans
}

// rangeScan is one token range on its way from Cassandra to the writer.
// rows and err are set before out is closed.
type rangeScan struct {
	r    TokenRange
	out  chan ups.Profile
	rows int64
	err  error
}

// writeTo writes the range's profiles as they arrive.
func (sc *rangeScan) writeTo(ctx context.Context, w *bufio.Writer, sum *ExportSummary) error {
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cassandra: export: %w", err)
		}
		select {
		case p, ok := <-sc.out:
			if !ok {
				return sc.err
			}
			line, err := p.MarshalJSON()
			if err != nil {
				return fmt.Errorf("cassandra: export user %q: %w", p.UserID, err)
			}
			line = append(line, '\n')
			if _, err := w.Write(line); err != nil {
				return fmt.Errorf("cassandra: export: write: %w", err)
			}
			sum.Profiles++
		case <-ctx.Done():
			return fmt.Errorf("cassandra: export: %w", ctx.Err())
		}
	}
}

// rangeReader reads token ranges with one statement.
type rangeReader struct {
	session     *gocql.Session
	stmt        string
	consistency gocql.Consistency
	pageSize    int
	now         func() time.Time // turns TTLs into expiry times
}

// read sends the profiles of range r to out, one per partition, and
// returns how many rows it read.
func (rr rangeReader) read(ctx context.Context, r TokenRange, out chan<- ups.Profile) (int64, error) {
	iter := rr.session.Query(rr.stmt, r.Start, r.End).
		WithContext(ctx).
		Consistency(rr.consistency).
		PageSize(rr.pageSize).
		Idempotent(true).
		Iter()
	var (
		rows                 int64
		userID, expID, varID string
		decidedAt            time.Time
		ttl                  int
		cur                  ups.Profile
		sendErr              error
	)
	now := rr.now()
	send := func() {
		if cur.Empty() {
			return
		}
		select {
		case out <- cur:
		case <-ctx.Done():
			sendErr = ctx.Err()
		}
	}
	for iter.Scan(&userID, &expID, &varID, &decidedAt, &ttl) {
		rows++
		if userID != cur.UserID {
			if send(); sendErr != nil {
				break
			}
			cur = ups.NewProfile(userID)
		}
		// A row without a variation (written by hand, or half-expired
		// after a partial update) cannot be expressed in the schema.
		if varID != "" {
			a := ups.Assignment{VariationID: varID, DecidedAt: decidedAt}
			if ttl > 0 {
				a.ExpiresAt = now.Add(time.Duration(ttl) * time.Second)
			}
			cur.Assignments[expID] = a
		}
		varID, decidedAt, ttl = "", time.Time{}, 0
	}
	if err := iter.Close(); err != nil {
		return rows, fmt.Errorf("cassandra: export: read token range (%d, %d]: %w", r.Start, r.End, err)
	}
	if sendErr == nil {
		send()
	}
	if sendErr != nil {
		return rows, fmt.Errorf("cassandra: export: token range (%d, %d]: %w", r.Start, r.End, sendErr)
	}
	return rows, nil
}

// bulkAccess is all Export needs of the store's internals, in one place.
func (s *Store) bulkAccess() (session *gocql.Session, keyspace string, readConsistency gocql.Consistency) {
	return s.session, s.opts.Keyspace, s.opts.ReadConsistency
}
