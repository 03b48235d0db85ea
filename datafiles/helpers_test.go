package datafiles

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testDeadline bounds every wait for a background event in these tests.
const testDeadline = 20 * time.Second

// datafile returns examples/datafile-v1.json with its revision set to rev.
func datafile(t testing.TB, rev string) []byte {
	t.Helper()
	data, err := os.ReadFile("../examples/datafile-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	out := bytes.Replace(data, []byte(`"revision": "1"`), []byte(`"revision": "`+rev+`"`), 1)
	if bytes.Equal(out, data) && rev != "1" {
		t.Fatal("examples/datafile-v1.json has no revision 1")
	}
	return out
}

// writeFile writes data to path in place (truncate and write).
func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// replaceFile writes data beside path and renames it over path, as editors
// and deployment tools do.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeFile(t, tmp, data)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testLogger writes to the test's output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}
