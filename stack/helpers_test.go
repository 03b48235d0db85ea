package stack

import (
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/stickybucket/stickybucket/config"
)

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startService starts a Service on cfg for the test and closes it when the
// test ends. Its logs are discarded unless opts.Log is set, and it takes
// its signals only from opts.Signals (a channel nothing sends on unless
// the test gives one), never the process's, so no test's service catches
// the test binary's SIGINT. A test may close it first, to check what Close
// returns: Close runs once.
func startService(t *testing.T, cfg config.Config, opts ServiceOptions) *Service {
	t.Helper()
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Signals == nil {
		opts.Signals = make(chan os.Signal)
	}
	svc, err := NewService(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("start the service: %v", err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("close the service: %v", err)
		}
	})
	return svc
}
