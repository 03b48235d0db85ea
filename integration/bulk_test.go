package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/ups"
)

// bulkProfiles returns n users with one to four assignments each, as the
// profiles to save and as user → experiment → variation.
func bulkProfiles(n int) ([]ups.Profile, map[string]map[string]string) {
	profiles := make([]ups.Profile, n)
	want := make(map[string]map[string]string, n)
	for i := range profiles {
		p := ups.NewProfile(fmt.Sprintf("bulk-user-%05d", i))
		want[p.UserID] = map[string]string{}
		for e := range 1 + i%4 {
			exp, v := fmt.Sprintf("exp-%d", e), fmt.Sprintf("var-%d-%d", e, i%3)
			p.Set(exp, v)
			want[p.UserID][exp] = v
		}
		profiles[i] = p
	}
	return profiles, want
}

// saveAll saves profiles 16 at a time.
func saveAll(t testing.TB, s *cassandra.Store, profiles []ups.Profile) {
	t.Helper()
	ctx := context.Background()
	work := make(chan ups.Profile)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range 16 {
		wg.Go(func() {
			for p := range work {
				if err := s.Save(ctx, p); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, p := range profiles {
		work <- p
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// parseExport reads an export back as user → experiment → variation, and
// the users in the order they came.
func parseExport(t testing.TB, out []byte) (map[string]map[string]string, []string) {
	t.Helper()
	got := map[string]map[string]string{}
	var order []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var p ups.Profile
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("export line %d: %v", len(order)+1, err)
		}
		if _, dup := got[p.UserID]; dup {
			t.Fatalf("user %s exported twice", p.UserID)
		}
		got[p.UserID] = map[string]string{}
		for exp, a := range p.Assignments {
			got[p.UserID][exp] = a.VariationID
		}
		order = append(order, p.UserID)
	}
	return got, order
}

func export(t testing.TB, s *cassandra.Store, opts cassandra.ExportOptions) ([]byte, cassandra.ExportSummary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := s.Export(context.Background(), &buf, opts)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}
	return buf.Bytes(), sum
}

func countRows(t testing.TB, ks string) int {
	t.Helper()
	var n int
	if err := admin.Query("SELECT COUNT(*) FROM " + ks + ".assignments").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestExportImportExport(t *testing.T) {
	ctx := context.Background()
	srcKS, dstKS := keyspace(t, "bulk_src"), keyspace(t, "bulk_dst")
	src := newStore(t, env(t, srcKS, time.Hour, nil))
	dst := newStore(t, env(t, dstKS, time.Hour, nil))
	profiles, want := bulkProfiles(1000)
	saveAll(t, src, profiles)
	rows := countRows(t, srcKS)

	// Small pages split users across pages within a range; many ranges
	// leave some empty.
	var progress []cassandra.ExportProgress
	out, sum := export(t, src, cassandra.ExportOptions{
		Ranges: 64, Concurrency: 4, PageSize: 7,
		Progress: func(p cassandra.ExportProgress) { progress = append(progress, p) },
	})
	t.Logf("export: %+v", sum)
	got, order := parseExport(t, out)
	if !maps.EqualFunc(got, want, maps.Equal) {
		t.Fatalf("export holds %d users, want the %d saved ones with their assignments", len(got), len(want))
	}
	if sum.Profiles != 1000 || sum.Rows != int64(rows) || sum.Ranges != 64 {
		t.Errorf("summary %+v, want 1000 profiles, %d rows, 64 ranges", sum, rows)
	}
	if len(progress) != 64 || progress[63] != (cassandra.ExportProgress{Ranges: 64, RangesDone: 64, Rows: int64(rows), Profiles: 1000}) {
		t.Errorf("%d progress reports, the last %+v; want one per range, ending at every row", len(progress), progress[len(progress)-1])
	}

	// Token order: a full scan returns partitions in token order too.
	var byToken []string
	iter := admin.Query("SELECT DISTINCT user_id FROM " + srcKS + ".assignments").Iter()
	for u := ""; iter.Scan(&u); {
		byToken = append(byToken, u)
	}
	if err := iter.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, byToken) {
		t.Error("export order differs from the token order of a full scan")
	}
	if slices.IsSorted(order) {
		t.Error("export came out sorted by user ID; expected token order")
	}

	imp, err := dst.Import(ctx, bytes.NewReader(out), cassandra.ImportOptions{})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	t.Logf("import: %+v, %.0f assignments/s", imp, imp.AssignmentsPerSecond())
	if imp.Lines != 1000 || imp.Profiles != 1000 || imp.Assignments != int64(rows) || imp.BadLines != 0 {
		t.Errorf("import summary %+v, want 1000 profiles and %d assignments", imp, rows)
	}
	again, _ := export(t, dst, cassandra.ExportOptions{Ranges: 16})
	if !sameExport(t, again, out) {
		t.Error("exporting the imported keyspace gives other lines than the first export")
	}
}

// sameExport compares two exports line by line: the same users in the same
// order, the same variations and decision times, expiry times within two
// seconds (each export turns TTLs, whole seconds, into times at its own
// now).
func sameExport(t testing.TB, a, b []byte) bool {
	t.Helper()
	la, lb := bytes.Split(bytes.TrimSpace(a), []byte("\n")), bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(la) != len(lb) {
		return false
	}
	for i := range la {
		var pa, pb ups.Profile
		if json.Unmarshal(la[i], &pa) != nil || json.Unmarshal(lb[i], &pb) != nil || pa.UserID != pb.UserID || len(pa.Assignments) != len(pb.Assignments) {
			return false
		}
		for exp, x := range pa.Assignments {
			y := pb.Assignments[exp]
			if x.VariationID != y.VariationID || !x.DecidedAt.Equal(y.DecidedAt) || x.ExpiresAt.Sub(y.ExpiresAt).Abs() > 2*time.Second {
				return false
			}
		}
	}
	return true
}

// TestImportKeepsRetentionAndDecisionTime: an imported assignment keeps
// the decision time and the expiry it had in the source, whatever the
// destination's retention, so a reset treats it as before and it expires
// when it would have; an assignment already expired is not written.
func TestImportKeepsRetentionAndDecisionTime(t *testing.T) {
	ctx := context.Background()
	srcKS, dstKS := keyspace(t, "keep_src"), keyspace(t, "keep_dst")
	src := newStore(t, env(t, srcKS, time.Hour, nil))
	dst := newStore(t, env(t, dstKS, 30*24*time.Hour, nil))
	decided := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	p := ups.Profile{UserID: "keep-user", Assignments: map[string]ups.Assignment{"exp-1": {VariationID: "v1", DecidedAt: decided}}}
	if err := src.Save(ctx, p); err != nil {
		t.Fatal(err)
	}
	out, _ := export(t, src, cassandra.ExportOptions{Ranges: 4})
	gone := `{"user_id":"gone-user","experiment_bucket_map":{"exp-1":{"variation_id":"v1","decided_at":"2026-01-01T00:00:00Z","expires_at":"2026-02-01T00:00:00Z"}}}`
	sum, err := dst.Import(ctx, bytes.NewReader(append(out, []byte(gone+"\n")...)), cassandra.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Profiles != 1 || sum.ExpiredAssignments != 1 || sum.Lines != 2 {
		t.Fatalf("import summary %+v: want the live profile written and the expired assignment counted", sum)
	}
	if ttl := ttlOf(t, dstKS, "keep-user", "exp-1"); ttl < 3500 || ttl > 3600 {
		t.Errorf("imported TTL %d s, want the source's hour left, not the destination's 30 days", ttl)
	}
	a, ok, err := dst.LookupAssignment(ctx, "keep-user", "exp-1")
	if err != nil || !ok || !a.DecidedAt.Equal(decided) {
		t.Errorf("imported assignment %+v, %v, %v: want decided at %s as in the source", a, ok, err, decided)
	}
	if rows := countRows(t, dstKS); rows != 1 {
		t.Errorf("%d rows in the destination, want 1 (the expired one not written)", rows)
	}
}

func TestImportBadLineWritesNothing(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "bulk_bad")
	s := newStore(t, env(t, ks, time.Hour, nil))
	input := strings.Join([]string{
		`{"user_id": "good-1", "experiment_bucket_map": {"1": {"variation_id": "a"}}}`,
		`{"user_id": "good-2", "experiment_bucket_map": {"1": {"variation_id": "b"}}}`,
		`{"user_id": "broken", "experiment_bucket_map": {"1": {"variation_id": "c"}`,
		`{"user_id": "half-valid", "experiment_bucket_map": {"1": {"variation_id": "d"}, "2": {"variation_id": ""}}}`,
		`{"user_id": "good-3", "experiment_bucket_map": {"1": {"variation_id": "e"}, "2": {"variation_id": "f"}}}`,
	}, "\n") + "\n"
	var reported []cassandra.BadLine
	sum, err := s.Import(ctx, strings.NewReader(input), cassandra.ImportOptions{
		OnBadLine: func(b cassandra.BadLine) { reported = append(reported, b) },
	})
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if sum.Lines != 5 || sum.Profiles != 3 || sum.Assignments != 4 || sum.BadLines != 2 {
		t.Errorf("summary %+v, want 5 lines, 3 profiles, 4 assignments, 2 bad", sum)
	}
	if len(sum.FirstBadLines) != 2 || sum.FirstBadLines[0].Line != 3 || sum.FirstBadLines[1].Line != 4 || len(reported) != 2 {
		t.Fatalf("bad lines %v (reported %v), want lines 3 and 4", sum.FirstBadLines, reported)
	}
	if !strings.Contains(sum.FirstBadLines[1].Err.Error(), `experiment "2": invalid profile: variation_id is empty`) {
		t.Errorf("line 4 reported as %v, want the empty variation named", sum.FirstBadLines[1].Err)
	}
	for _, u := range []string{"broken", "half-valid"} {
		if n := rowCount(t, ks, u); n != 0 {
			t.Errorf("bad line of %s wrote %d rows", u, n)
		}
	}
	if n := countRows(t, ks); n != 4 {
		t.Errorf("table holds %d rows, want the 4 assignments of the good lines", n)
	}
}

// TestImportTwiceChangesNothing: importing an export again writes the
// same assignments, decision and expiry times included.
func TestImportTwiceChangesNothing(t *testing.T) {
	ctx := context.Background()
	ks := keyspace(t, "bulk_twice")
	s := newStore(t, env(t, ks, time.Hour, nil))
	profiles, _ := bulkProfiles(300)
	var input bytes.Buffer
	for _, p := range profiles {
		line, _ := p.MarshalJSON()
		input.Write(append(line, '\n'))
	}
	// A line without times is decided at the import; an export carries
	// the times, so importing it again changes nothing.
	var exports [][]byte
	for i := range 2 {
		sum, err := s.Import(ctx, bytes.NewReader(input.Bytes()), cassandra.ImportOptions{Concurrency: 8})
		if err != nil {
			t.Fatalf("Import #%d: %v", i+1, err)
		}
		if sum.Profiles != 300 || sum.BadLines != 0 {
			t.Fatalf("Import #%d: %+v", i+1, sum)
		}
		out, _ := export(t, s, cassandra.ExportOptions{})
		exports = append(exports, out)
		input.Reset()
		input.Write(out)
	}
	if !sameExport(t, exports[0], exports[1]) {
		t.Error("importing an export again changed what an export shows")
	}
	got, _ := parseExport(t, exports[1])
	if len(got) != 300 || countRows(t, ks) != 750 {
		t.Errorf("after two imports: %d users, %d rows; want 300 and 750", len(got), countRows(t, ks))
	}
}

// failAfter is a writer that fails once it has taken n bytes.
type failAfter struct{ n int }

var errDiskFull = errors.New("disk full")

func (f *failAfter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errDiskFull
	}
	f.n -= len(p)
	return len(p), nil
}

func TestExportStopsOnWriteErrorAndCancel(t *testing.T) {
	ks := keyspace(t, "bulk_stop")
	s := newStore(t, env(t, ks, time.Hour, nil))
	profiles, _ := bulkProfiles(500)
	saveAll(t, s, profiles)

	// The ranges read ahead are blocked on their buffers or still
	// reading: Export must stop them and return, not hang.
	_, err := s.Export(context.Background(), &failAfter{n: 2000}, cassandra.ExportOptions{Ranges: 32, Concurrency: 8})
	if !errors.Is(err, errDiskFull) {
		t.Errorf("Export to a failing writer = %v, want its error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var buf bytes.Buffer
	sum, err := s.Export(ctx, &buf, cassandra.ExportOptions{
		Ranges: 32, Concurrency: 8,
		Progress: func(p cassandra.ExportProgress) {
			if p.RangesDone == 3 {
				cancel()
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Export = %v, want context.Canceled", err)
	}
	got, _ := parseExport(t, buf.Bytes())
	if int64(len(got)) != sum.Profiles || sum.Profiles == 0 || sum.Profiles >= 500 {
		t.Errorf("cancelled after 3 of 32 ranges: %d lines written, summary %+v", len(got), sum)
	}
}
