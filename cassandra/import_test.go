package cassandra

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

func newMemory(t *testing.T) *ups.Memory {
	t.Helper()
	m, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stored is the store's content as user → experiment → variation.
func stored(m *ups.Memory) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, p := range m.Profiles() {
		out[p.UserID] = map[string]string{}
		for exp, a := range p.Assignments {
			out[p.UserID][exp] = a.VariationID
		}
	}
	return out
}

func TestImportReportsBadLinesAndGoesOn(t *testing.T) {
	long := `{"user_id": "u-long", "experiment_bucket_map": {"1": {"variation_id": "` + strings.Repeat("v", 200) + `"}}}`
	input := strings.Join([]string{
		"\xef\xbb\xbf" + `{"user_id": "u1", "experiment_bucket_map": {"1": {"variation_id": "a"}, "2": {"variation_id": "b"}}}`,
		``,
		`{"user_id": "u2", "experiment_bucket_map": {"1": {"variation_id": "c"}}}` + "\r",
		`{"user_id": "u3", "experiment_bucket_map": {`, // cut short
		`{"user_id": "u4", "experiment_bucket_map": {"1": {"variation_id": "d"}, "2": {"variation_id": ""}}}`,
		`{"user_id": "u5", "experiment_bucket_map": {}} {"user_id": "u6"}`,
		`   `,
		long,
		`[1, 2]`,
		`{"user_id": "u7", "experiment_bucket_map": {"3": {"variation_id": "e"}}}`, // no final newline
	}, "\n")
	m := newMemory(t)
	var reported []BadLine
	var last ImportProgress
	sum, err := importProfiles(context.Background(), m, strings.NewReader(input), ImportOptions{
		Concurrency:  3,
		MaxLineBytes: 150,
		OnBadLine:    func(b BadLine) { reported = append(reported, b) },
		Progress:     func(p ImportProgress) { last = p },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]string{
		"u1": {"1": "a", "2": "b"},
		"u2": {"1": "c"},
		"u7": {"3": "e"},
	}
	if got := stored(m); !maps.EqualFunc(got, want, maps.Equal) {
		t.Errorf("stored %v, want %v", got, want)
	}
	if sum.Lines != 10 || sum.Profiles != 3 || sum.Assignments != 4 || sum.BadLines != 5 {
		t.Errorf("summary %+v, want 10 lines, 3 profiles, 4 assignments, 5 bad lines", sum)
	}
	wantBad := map[int64]string{4: "not JSON", 5: "variation_id is empty", 6: "not JSON", 8: "longer than 150 bytes", 9: "must be a JSON object"}
	if len(sum.FirstBadLines) != len(wantBad) || len(reported) != len(wantBad) {
		t.Fatalf("bad lines %v (reported %v), want lines 4, 5, 6, 8, 9", sum.FirstBadLines, reported)
	}
	for i, b := range sum.FirstBadLines {
		if i > 0 && b.Line <= sum.FirstBadLines[i-1].Line {
			t.Errorf("FirstBadLines not in line order: %v", sum.FirstBadLines)
		}
		if w, ok := wantBad[b.Line]; !ok || !strings.Contains(b.Err.Error(), w) || !errors.Is(b.Err, ups.ErrInvalidProfile) {
			t.Errorf("%v: want an invalid-profile error containing %q", b, w)
		}
	}
	if last != (ImportProgress{Bytes: int64(len(input)), Lines: 10, Profiles: 3, Assignments: 4, BadLines: 5}) {
		t.Errorf("last progress %+v, want every byte and line accounted for", last)
	}
}

func TestImportTwiceChangesNothing(t *testing.T) {
	var b strings.Builder
	for i := range 200 {
		fmt.Fprintf(&b, `{"user_id": "u%d", "experiment_bucket_map": {"1": {"variation_id": "v%d"}, "2": {"variation_id": "w"}}}`+"\n", i, i%3)
	}
	m := newMemory(t)
	for i := range 2 {
		sum, err := importProfiles(context.Background(), m, strings.NewReader(b.String()), ImportOptions{Concurrency: 8})
		if err != nil {
			t.Fatal(err)
		}
		if sum.Profiles != 200 || sum.Assignments != 400 || sum.BadLines != 0 {
			t.Fatalf("import #%d: %+v", i+1, sum)
		}
		if got := stored(m); len(got) != 200 || got["u7"]["1"] != "v1" || got["u7"]["2"] != "w" {
			t.Fatalf("after import #%d the store holds %d users, u7 = %v", i+1, len(got), got["u7"])
		}
	}
}

// gatedSaver holds every save until the gate opens, and records how many
// ran at once.
type gatedSaver struct {
	next          profileSaver
	entered       chan struct{}
	gate          chan struct{}
	running, peak atomic.Int64
}

func (g *gatedSaver) Save(ctx context.Context, p ups.Profile) error {
	n := g.running.Add(1)
	defer g.running.Add(-1)
	for {
		old := g.peak.Load()
		if n <= old || g.peak.CompareAndSwap(old, n) {
			break
		}
	}
	g.entered <- struct{}{}
	<-g.gate
	return g.next.Save(ctx, p)
}

func TestImportRunsConcurrencySavesAtOnce(t *testing.T) {
	const concurrency, lines = 4, 40
	var b strings.Builder
	for i := range lines {
		fmt.Fprintf(&b, `{"user_id": "u%d", "experiment_bucket_map": {"1": {"variation_id": "v"}}}`+"\n", i)
	}
	g := &gatedSaver{next: newMemory(t), entered: make(chan struct{}, lines), gate: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := importProfiles(context.Background(), g, strings.NewReader(b.String()), ImportOptions{Concurrency: concurrency})
		done <- err
	}()
	for range concurrency { // all workers are inside Save, held by the gate
		<-g.entered
	}
	close(g.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if peak := g.peak.Load(); peak != concurrency {
		t.Errorf("%d saves ran at once, want %d", peak, concurrency)
	}
}

// failingSaver fails every save of one user as an unreachable store does.
type failingSaver struct {
	next profileSaver
	user string
}

func (f failingSaver) Save(ctx context.Context, p ups.Profile) error {
	if p.UserID == f.user {
		return fmt.Errorf("%w: timed out", ups.ErrUnavailable)
	}
	return f.next.Save(ctx, p)
}

func TestImportStopsOnAFailedSave(t *testing.T) {
	const lines = 50000
	var b strings.Builder
	for i := 1; i <= lines; i++ {
		fmt.Fprintf(&b, `{"user_id": "u%d", "experiment_bucket_map": {"1": {"variation_id": "v"}}}`+"\n", i)
	}
	m := newMemory(t)
	sum, err := importProfiles(context.Background(), failingSaver{next: m, user: "u10"}, strings.NewReader(b.String()),
		ImportOptions{Concurrency: 2, MaxAttempts: 1}) // retrying would let the other worker go on meanwhile
	if err == nil || !errors.Is(err, ups.ErrUnavailable) || !strings.Contains(err.Error(), `line 10 (user "u10"), 1 attempts`) {
		t.Fatalf("Import = %v, want the store's error naming line 10 and user u10", err)
	}
	// The saves under way finish and are counted; no new line starts once
	// the failure is seen. How many lines the other worker gets through
	// before that depends on scheduling, so this only checks that the
	// import stopped early and that the summary matches the store.
	if sum.Lines >= lines/2 || sum.Profiles != sum.Lines || len(stored(m)) != int(sum.Profiles) {
		t.Errorf("after the failure: %+v with %d users stored; want the lines before it, and few after", sum, len(stored(m)))
	}
}

// flakySaver fails the first saves of one user, as a busy node times out.
type flakySaver struct {
	next  profileSaver
	user  string
	fails atomic.Int32
}

func (f *flakySaver) Save(ctx context.Context, p ups.Profile) error {
	if p.UserID == f.user && f.fails.Add(-1) >= 0 {
		return errors.New("Operation timed out - received only 0 responses")
	}
	return f.next.Save(ctx, p)
}

func TestImportRetriesAFailedSave(t *testing.T) {
	input := `{"user_id": "u1", "experiment_bucket_map": {"1": {"variation_id": "a"}}}` + "\n" +
		`{"user_id": "u2", "experiment_bucket_map": {"1": {"variation_id": "b"}}}` + "\n"
	m := newMemory(t)
	s := &flakySaver{next: m, user: "u2"}
	s.fails.Store(3)
	sum, err := importProfiles(context.Background(), s, strings.NewReader(input), ImportOptions{RetryBackoff: time.Millisecond})
	if err != nil || sum.Profiles != 2 || sum.Retries != 3 || len(stored(m)) != 2 {
		t.Fatalf("Import = %+v, %v; want both saved after 3 retries", sum, err)
	}

	s.fails.Store(1)
	sum, err = importProfiles(context.Background(), s, strings.NewReader(input), ImportOptions{MaxAttempts: 1})
	if err == nil || !strings.Contains(err.Error(), `line 2 (user "u2"), 1 attempts: Operation timed out`) || sum.Retries != 0 {
		t.Fatalf("Import with one attempt = %+v, %v; want the timeout, untried again", sum, err)
	}
}

func TestImportStopsOnAReadError(t *testing.T) {
	good := `{"user_id": "u1", "experiment_bucket_map": {"1": {"variation_id": "v"}}}` + "\n"
	cut := `{"user_id": "u2", "experiment_bucket_map": {"1": {"variation_id": "v"}}}` // no newline: may be cut short
	readErr := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(good+cut), iotest.ErrReader(readErr))
	m := newMemory(t)
	sum, err := importProfiles(context.Background(), m, r, ImportOptions{})
	if !errors.Is(err, readErr) || !strings.Contains(err.Error(), "read line 2") {
		t.Fatalf("Import = %v, want the read error naming line 2", err)
	}
	if got := stored(m); len(got) != 1 || got["u1"] == nil || sum.Profiles != 1 {
		t.Errorf("stored %v (summary %+v), want only u1: the interrupted line is not imported", got, sum)
	}
}

// Run with -race: the callbacks share unsynchronised state, as a caller's
// may, which the race detector flags unless they run on one goroutine.
func TestImportCallbacksRunOnOneGoroutine(t *testing.T) {
	var b strings.Builder
	for i := range 500 {
		if i%5 == 0 {
			b.WriteString("not json\n")
			continue
		}
		fmt.Fprintf(&b, `{"user_id": "u%d", "experiment_bucket_map": {"1": {"variation_id": "v"}}}`+"\n", i)
	}
	var calls, bad int
	sum, err := importProfiles(context.Background(), newMemory(t), strings.NewReader(b.String()), ImportOptions{
		Concurrency: 16,
		OnBadLine:   func(BadLine) { calls++; bad++ },
		Progress:    func(ImportProgress) { calls++ },
	})
	if err != nil || sum.BadLines != 100 || bad != 100 || len(sum.FirstBadLines) != 100 || sum.FirstBadLines[99].Line != 496 {
		t.Fatalf("Import = %+v, %v (%d reported); want 100 bad lines, the last at 496", sum, err, bad)
	}
	if calls <= bad {
		t.Errorf("Progress was never called")
	}
}
