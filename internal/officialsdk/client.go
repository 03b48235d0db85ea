// Package officialsdk runs the official Optimizely Go SDK (v2) offline, for
// the tests and benchmarks that compare stickybucket with it or plug
// stickybucket's profiles under it:
//   - a static config manager built from the datafile's bytes with no SDK
//     key, so nothing polls the CDN;
//   - an event processor that drops events, so no batch goroutine and no
//     dispatch to logx.optimizely.com;
//   - ODP disabled, so creating a user context sends no identify event;
//   - the SDK's package-wide logger replaced by one that discards, so it
//     neither writes to stdout nor pays for I/O in benchmarks.
package officialsdk

import (
	"sync"
	"testing"

	"github.com/optimizely/go-sdk/v2/pkg/client"
	"github.com/optimizely/go-sdk/v2/pkg/config"
	"github.com/optimizely/go-sdk/v2/pkg/decision"
	"github.com/optimizely/go-sdk/v2/pkg/event"
	"github.com/optimizely/go-sdk/v2/pkg/logging"
)

// Client returns an official client deciding datafile, with profiles as
// its user profile service unless profiles is nil. It fails tb if the SDK
// rejects the datafile, and closes the client when tb ends.
func Client(tb testing.TB, datafile []byte, profiles decision.UserProfileService) *client.OptimizelyClient {
	tb.Helper()
	return OverridesClient(tb, datafile, profiles, nil)
}

// OverridesClient is Client with overrides as the SDK's experiment
// override store (what Agent's SetForcedVariation writes to) unless nil.
func OverridesClient(tb testing.TB, datafile []byte, profiles decision.UserProfileService, overrides decision.ExperimentOverrideStore) *client.OptimizelyClient {
	tb.Helper()
	silence.Do(func() { logging.SetLogger(discardLogs{}) })
	cm := config.NewStaticProjectConfigManagerWithOptions("", config.WithInitialDatafile(datafile))
	if cm == nil {
		tb.Fatal("the official SDK rejected the datafile")
	}
	opts := []client.OptionFunc{
		client.WithConfigManager(cm),
		client.WithEventProcessor(dropEvents{}),
		client.WithOdpDisabled(true),
	}
	if profiles != nil {
		opts = append(opts, client.WithUserProfileService(profiles))
	}
	if overrides != nil {
		opts = append(opts, client.WithExperimentOverrides(overrides))
	}
	c, err := (&client.OptimizelyFactory{Datafile: datafile}).Client(opts...)
	if err != nil {
		tb.Fatalf("official client: %v", err)
	}
	tb.Cleanup(c.Close)
	return c
}

// silence replaces the SDK's logger once per process: it is package-wide.
var silence sync.Once

type discardLogs struct{}

func (discardLogs) Log(logging.LogLevel, string, map[string]any) {}
func (discardLogs) SetLogLevel(logging.LogLevel)                 {}

type dropEvents struct{}

func (dropEvents) ProcessEvent(event.UserEvent) bool                 { return true }
func (dropEvents) OnEventDispatch(func(event.LogEvent)) (int, error) { return 0, nil }
func (dropEvents) RemoveOnEventDispatch(int) error                   { return nil }
