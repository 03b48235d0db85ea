package datafiles

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/decision"
)

// loadEvent is one OnLoad call.
type loadEvent struct {
	key, revision string
	err           error
}

// recorder collects OnLoad calls on a channel.
type recorder chan loadEvent

func newRecorder() recorder { return make(recorder, 1000) }

func (r recorder) onLoad(key, revision string, err error) { r <- loadEvent{key, revision, err} }

// next returns the next OnLoad call, failing the test after testDeadline.
func (r recorder) next(t *testing.T) loadEvent {
	t.Helper()
	select {
	case ev := <-r:
		return ev
	case <-time.After(testDeadline):
		t.Fatal("no OnLoad call before the test deadline")
		return loadEvent{}
	}
}

// waitLoaded waits for OnLoad to report revision in force for key with no
// error, returning the calls before it.
func (r recorder) waitLoaded(t *testing.T, key, revision string) []loadEvent {
	t.Helper()
	var before []loadEvent
	for {
		ev := r.next(t)
		if ev.key == key && ev.revision == revision && ev.err == nil {
			return before
		}
		before = append(before, ev)
	}
}

// none fails if OnLoad has been called.
func (r recorder) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-r:
		t.Fatalf("unexpected OnLoad(%q, %q, %v)", ev.key, ev.revision, ev.err)
	default:
	}
}

// files writes one datafile per key (revision 1) and returns their
// sources and paths.
func files(t *testing.T, keys ...string) (map[string]Source, map[string]string) {
	dir := t.TempDir()
	srcs, paths := map[string]Source{}, map[string]string{}
	for _, k := range keys {
		p := filepath.Join(dir, k+".json")
		writeFile(t, p, datafile(t, "1"))
		srcs[k], paths[k] = File{Path: p}, p
	}
	return srcs, paths
}

func newSet(t *testing.T, opts Options) *Set {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return s
}

func revision(t *testing.T, s *Set, key string) string {
	t.Helper()
	e, err := s.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if e.Datafile.Revision() != e.Revision {
		t.Fatalf("Get(%q): entry of revision %q holds datafile %q", key, e.Revision, e.Datafile.Revision())
	}
	return e.Revision
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"no sources", Options{}, "no sources"},
		{"empty key", Options{Sources: map[string]Source{"": File{Path: "x"}}}, "empty SDK key"},
		{"nil source", Options{Sources: map[string]Source{"k": nil}}, `"k" has no source`},
		{"negative", Options{Sources: map[string]Source{"k": File{Path: "x"}}, PollInterval: -1}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
		})
	}
}

func TestGetOne(t *testing.T) {
	srcs, paths := files(t, "key-a")
	s := newSet(t, Options{Sources: srcs})

	if _, err := s.Get(""); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("Get before Load: %v, want ErrNotLoaded", err)
	}
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	e, err := s.Get("")
	if err != nil {
		t.Fatal(err)
	}
	if e.SDKKey != "key-a" || e.Revision != "1" || e.Source != paths["key-a"] || e.Client == nil ||
		string(e.Raw) != string(datafile(t, "1")) || len(e.SHA256) != 64 || e.LoadedAt.IsZero() {
		t.Fatalf("Get(\"\") = %+v", e)
	}
	if e2, err := s.Get("key-a"); err != nil || e2 != e {
		t.Fatalf("Get(key-a) = %p, %v; want the same entry as Get(\"\")", e2, err)
	}
	_, err = s.Get("key-b")
	if !errors.Is(err, ErrUnknownSDKKey) || !strings.Contains(err.Error(), `"key-b"`) {
		t.Fatalf("Get(unknown) = %v, want ErrUnknownSDKKey naming it", err)
	}
	if got := s.Keys(); len(got) != 1 || got[0] != "key-a" {
		t.Errorf("Keys() = %q", got)
	}
	if got := s.Entries(); len(got) != 1 || got[0] != e {
		t.Errorf("Entries() = %v", got)
	}
}

func TestGetTwo(t *testing.T) {
	srcs, _ := files(t, "key-a", "key-b")
	s := newSet(t, Options{Sources: srcs})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(""); !errors.Is(err, ErrSDKKeyRequired) {
		t.Fatalf("Get(\"\") with two datafiles: %v, want ErrSDKKeyRequired", err)
	}
	for _, k := range []string{"key-a", "key-b"} {
		if e, err := s.Get(k); err != nil || e.SDKKey != k {
			t.Fatalf("Get(%q) = %v, %v", k, e, err)
		}
	}
	if _, err := s.Get("key-c"); !errors.Is(err, ErrUnknownSDKKey) {
		t.Fatalf("Get(unknown): %v, want ErrUnknownSDKKey", err)
	}
	if got := s.Keys(); strings.Join(got, ",") != "key-a,key-b" {
		t.Errorf("Keys() = %q", got)
	}
}

func TestLoadNamesEveryFailure(t *testing.T) {
	srcs, paths := files(t, "good", "broken", "missing")
	writeFile(t, paths["broken"], []byte(`{"version": "4", "revision": `))
	if err := os.Remove(paths["missing"]); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	s := newSet(t, Options{Sources: srcs, OnLoad: rec.onLoad})

	err := s.Load(t.Context())
	if err == nil {
		t.Fatal("Load with a broken and a missing datafile succeeded")
	}
	for _, w := range []string{`"broken"`, paths["broken"], `"missing"`, paths["missing"]} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Load error does not name %s:\n%v", w, err)
		}
	}
	if strings.Contains(err.Error(), `"good"`) {
		t.Errorf("Load error names the good datafile:\n%v", err)
	}
	if !errors.Is(err, ErrRejected) {
		t.Errorf("Load error does not wrap ErrRejected for the broken datafile: %v", err)
	}
	if got := revision(t, s, "good"); got != "1" {
		t.Errorf("good datafile: revision %q", got)
	}
	if len(s.Entries()) != 1 {
		t.Errorf("%d entries, want 1", len(s.Entries()))
	}
	events := map[string]loadEvent{}
	for range 3 {
		ev := rec.next(t)
		events[ev.key] = ev
	}
	if events["good"].err != nil || events["good"].revision != "1" ||
		!errors.Is(events["broken"].err, ErrRejected) || events["broken"].revision != "" ||
		events["missing"].err == nil || errors.Is(events["missing"].err, ErrRejected) {
		t.Errorf("OnLoad calls: %+v", events)
	}

	// Fixed, Load succeeds.
	writeFile(t, paths["broken"], datafile(t, "1"))
	writeFile(t, paths["missing"], datafile(t, "1"))
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(s.Entries()) != 3 {
		t.Errorf("%d entries after a good Load, want 3", len(s.Entries()))
	}
}

func TestReloadJoinsErrorsPerKey(t *testing.T) {
	srcs, paths := files(t, "changed", "broken", "deleted", "same")
	rec := newRecorder()
	var parses atomic.Int32
	s := newSet(t, Options{Sources: srcs, OnLoad: rec.onLoad, Parse: func(b []byte) (*decision.Datafile, error) {
		parses.Add(1)
		return decision.ParseDatafile(b)
	}})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		rec.next(t)
	}
	parses.Store(0)

	writeFile(t, paths["changed"], datafile(t, "2"))
	writeFile(t, paths["broken"], append(datafile(t, "2"), '}'))
	if err := os.Remove(paths["deleted"]); err != nil {
		t.Fatal(err)
	}
	err := s.Reload(t.Context())
	if err == nil {
		t.Fatal("Reload with a broken and a deleted datafile succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, `"broken"`) || !strings.Contains(msg, `"deleted"`) ||
		strings.Contains(msg, `"changed"`) || strings.Contains(msg, `"same"`) {
		t.Errorf("Reload error should name broken and deleted only:\n%v", err)
	}
	if !strings.Contains(msg, `revision "1" keeps serving`) {
		t.Errorf("Reload error does not say which revision keeps serving:\n%v", err)
	}
	for key, want := range map[string]string{"changed": "2", "broken": "1", "deleted": "1", "same": "1"} {
		if got := revision(t, s, key); got != want {
			t.Errorf("%s: revision %q in force, want %q", key, got, want)
		}
	}
	events := map[string]loadEvent{}
	for range 3 {
		ev := rec.next(t)
		events[ev.key] = ev
	}
	rec.none(t) // nothing for the unchanged one
	if ev := events["changed"]; ev.revision != "2" || ev.err != nil {
		t.Errorf("OnLoad for the changed datafile: %+v", ev)
	}
	if ev := events["broken"]; ev.revision != "1" || !errors.Is(ev.err, ErrRejected) {
		t.Errorf("OnLoad for the broken datafile: %+v", ev)
	}
	if ev := events["deleted"]; ev.revision != "1" || ev.err == nil || errors.Is(ev.err, ErrRejected) {
		t.Errorf("OnLoad for the deleted datafile: %+v", ev)
	}
	if got := parses.Load(); got != 2 {
		t.Errorf("%d parses, want 2 (changed and broken)", got)
	}

	// Again, nothing changed: the broken one is still reported by Reload,
	// without parsing it again or calling OnLoad; the deleted one fails to
	// fetch again.
	parses.Store(0)
	err = s.Reload(t.Context())
	if err == nil || !strings.Contains(err.Error(), `"broken"`) || !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), `"deleted"`) {
		t.Errorf("second Reload: %v; want the standing rejection and the fetch failure", err)
	}
	if ev := rec.next(t); ev.key != "deleted" || ev.err == nil {
		t.Errorf("OnLoad after the second Reload: %+v, want the deleted one's failure", ev)
	}
	rec.none(t)
	if got := parses.Load(); got != 0 {
		t.Errorf("%d parses of unchanged datafiles, want 0", got)
	}
}

func TestBuildFailureKeepsOldDatafile(t *testing.T) {
	srcs, paths := files(t, "k")
	rec := newRecorder()
	s := newSet(t, Options{Sources: srcs, OnLoad: rec.onLoad,
		Build: func(key string, df *decision.Datafile) (*decision.Client, error) {
			if df.Revision() == "2" {
				return nil, fmt.Errorf("no client for %s", df.Revision())
			}
			return decision.NewClient(decision.Options{Datafile: df})
		}})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	writeFile(t, paths["k"], datafile(t, "2"))
	err := s.Reload(t.Context())
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "no client for 2") {
		t.Fatalf("Reload: %v; want a rejection saying why", err)
	}
	if ev := rec.next(t); ev.revision != "1" || !errors.Is(ev.err, ErrRejected) {
		t.Errorf("OnLoad: %+v", ev)
	}
	if got := revision(t, s, "k"); got != "1" {
		t.Errorf("revision %q in force, want 1", got)
	}
}

// While a new datafile is being parsed, Get answers with the old one at
// once; once parsed, with the new one.
func TestGetDoesNotWaitForReload(t *testing.T) {
	srcs, paths := files(t, "k")
	entered, release := make(chan struct{}), make(chan struct{})
	var gate atomic.Bool
	s := newSet(t, Options{Sources: srcs, Parse: func(b []byte) (*decision.Datafile, error) {
		if gate.Load() {
			close(entered)
			<-release
		}
		return decision.ParseDatafile(b)
	}})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	writeFile(t, paths["k"], datafile(t, "2"))
	gate.Store(true)
	reloaded := make(chan error, 1)
	go func() { reloaded <- s.Reload(context.Background()) }()
	<-entered
	if got := revision(t, s, "k"); got != "1" {
		t.Errorf("during the reload: revision %q, want 1", got)
	}
	// A second reload waits for the first; its context bounds the wait.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Reload(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Reload while another runs, cancelled: %v", err)
	}
	close(release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	if got := revision(t, s, "k"); got != "2" {
		t.Errorf("after the reload: revision %q, want 2", got)
	}
}

// Readers and reloads at once, for the race detector: every entry a reader
// gets is whole.
func TestConcurrentGetAndReload(t *testing.T) {
	srcs, paths := files(t, "a", "b")
	s := newSet(t, Options{Sources: srcs})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for range 4 {
		readers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := "a"
				if i%2 == 1 {
					key = "b"
				}
				e, err := s.Get(key)
				if err != nil {
					t.Error(err)
					return
				}
				if e.SDKKey != key || e.Datafile.Revision() != e.Revision || e.Client == nil {
					t.Errorf("torn entry %+v", e)
					return
				}
				reads.Add(1)
			}
		})
	}
	for i := range 50 {
		rev := fmt.Sprint(i + 2)
		writeFile(t, paths["a"], datafile(t, rev))
		replaceFile(t, paths["b"], datafile(t, rev))
		if err := s.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if revision(t, s, "a") != rev || revision(t, s, "b") != rev {
			t.Fatalf("after reload %d: revisions %q, %q", i, revision(t, s, "a"), revision(t, s, "b"))
		}
	}
	close(stop)
	readers.Wait()
	if reads.Load() == 0 {
		t.Error("readers made no reads")
	}
}

// A datafile that makes Parse or Build panic is rejected like one that
// does not parse; the process goes on with the old one.
func TestPanicInParseOrBuildIsRejection(t *testing.T) {
	for _, where := range []string{"parse", "build"} {
		t.Run(where, func(t *testing.T) {
			srcs, paths := files(t, "k")
			rec := newRecorder()
			s := newSet(t, Options{Sources: srcs, OnLoad: rec.onLoad,
				Parse: func(b []byte) (*decision.Datafile, error) {
					df, err := decision.ParseDatafile(b)
					if where == "parse" && err == nil && df.Revision() == "2" {
						panic("parse bug")
					}
					return df, err
				},
				Build: func(_ string, df *decision.Datafile) (*decision.Client, error) {
					if where == "build" && df.Revision() == "2" {
						panic("build bug")
					}
					return decision.NewClient(decision.Options{Datafile: df})
				}})
			if err := s.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			rec.next(t)
			writeFile(t, paths["k"], datafile(t, "2"))
			err := s.Reload(t.Context())
			if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "panic: "+where+" bug") {
				t.Fatalf("Reload: %v; want a rejection saying it panicked", err)
			}
			if got := revision(t, s, "k"); got != "1" {
				t.Errorf("revision %q in force, want 1", got)
			}
		})
	}
}

// A Reload cancelled by its caller is not a datafile failure: it returns
// the context's error but OnLoad does not count it.
func TestCancelledReloadIsNotCounted(t *testing.T) {
	c, srv := newCDN(t, datafile(t, "1"), `"v1"`)
	rec := newRecorder()
	s := newSet(t, Options{Sources: map[string]Source{"k": URL{URL: srv.URL, Client: srv.Client()}}, OnLoad: rec.onLoad})
	if err := s.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	rec.next(t)
	c.set(datafile(t, "2"), `"v2"`)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Reload(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Reload: %v", err)
	}
	rec.none(t)
	if err := s.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ev := rec.next(t); ev.revision != "2" || ev.err != nil {
		t.Fatalf("OnLoad after Reload: %+v", ev)
	}
}

// Get is on every request's path: no lock, no allocation.
func BenchmarkGet(b *testing.B) {
	dir := b.TempDir()
	srcs := map[string]Source{}
	for _, k := range []string{"a", "b", "c"} {
		p := filepath.Join(dir, k+".json")
		writeFile(b, p, datafile(b, "1"))
		srcs[k] = File{Path: p}
	}
	s, err := New(Options{Sources: srcs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Load(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get("b"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// An entry carries what events need of its datafile; a datafile events
// cannot read (a field of the wrong type the SDKs would refuse too) is
// rejected like one that does not parse.
func TestEntryHasItsEventsProject(t *testing.T) {
	path := filepath.Join(t.TempDir(), "df.json")
	writeFile(t, path, datafile(t, "3"))
	set, err := New(Options{Sources: map[string]Source{"k": File{Path: path}}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e, err := set.Get("k")
	if err != nil {
		t.Fatal(err)
	}
	if e.Events == nil || e.Events.ProjectID() != "12002" || e.Events.AccountID() != "12001" || e.Events.Revision() != "3" {
		t.Fatalf("events project %+v", e.Events)
	}
	writeFile(t, path, bytes.Replace(datafile(t, "4"), []byte(`"botFiltering": false`), []byte(`"botFiltering": "no"`), 1))
	if err := set.Reload(context.Background()); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "botFiltering") {
		t.Errorf("Reload of a datafile with botFiltering \"no\": %v", err)
	}
}

// TestLoadErrorsSayEachContextOnce: the package, the SDK key, the source
// and the cause, each once ("datafiles: load: datafiles: SDK key" said the
// package twice), and errors.Is still finds the cause.
func TestLoadErrorsSayEachContextOnce(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	writeFile(t, bad, []byte("{"))
	rec := newRecorder()
	s := newSet(t, Options{Sources: map[string]Source{
		"missing": File{Path: filepath.Join(dir, "missing.json")},
		"dir":     File{Path: dir},
		"bad":     File{Path: bad},
	}, OnLoad: rec.onLoad})
	err := s.Load(t.Context())
	if err == nil {
		t.Fatal("Load succeeded")
	}
	for _, want := range []string{
		`datafiles: load: SDK key "bad": datafile rejected from ` + bad + " (no datafile is served for it): ",
		`SDK key "dir": read datafile ` + dir + ": is a directory; give the datafile's path",
		`SDK key "missing": read datafile ` + filepath.Join(dir, "missing.json") + ": no such file or directory",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Load = %v\nwant it to say %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "datafiles:"); n != 1 {
		t.Errorf("Load = %v\nsays datafiles: %d times", err, n)
	}
	if !errors.Is(err, os.ErrNotExist) || !errors.Is(err, ErrRejected) {
		t.Errorf("Load = %v: errors.Is does not find the causes", err)
	}
	for range 3 {
		if ev := rec.next(t); ev.err == nil || strings.HasPrefix(ev.err.Error(), "datafiles:") {
			t.Errorf("OnLoad(%q, %v): want an error starting with the SDK key", ev.key, ev.err)
		}
	}
	err = s.Reload(t.Context())
	if err == nil || !strings.HasPrefix(err.Error(), "datafiles: reload: SDK key") || strings.Count(err.Error(), "datafiles:") != 1 {
		t.Errorf("Reload = %v", err)
	}
}
