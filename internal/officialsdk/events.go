package officialsdk

import (
	"testing"

	"github.com/optimizely/go-sdk/v2/pkg/client"
	"github.com/optimizely/go-sdk/v2/pkg/config"
	"github.com/optimizely/go-sdk/v2/pkg/event"
	"github.com/optimizely/go-sdk/v2/pkg/logging"
)

// EventClient returns an official client deciding datafile, offline as
// Client's, whose events go to processor (a BatchEventProcessor with a
// capturing dispatcher, for the tests that compare events) and without a
// user profile service. Close flushes the processor; EventClient fails tb
// if the SDK rejects the datafile, and closes the client when tb ends
// unless the test did.
func EventClient(tb testing.TB, datafile []byte, processor event.Processor) *client.OptimizelyClient {
	tb.Helper()
	silence.Do(func() { logging.SetLogger(discardLogs{}) })
	cm := config.NewStaticProjectConfigManagerWithOptions("", config.WithInitialDatafile(datafile))
	if cm == nil {
		tb.Fatal("the official SDK rejected the datafile")
	}
	c, err := (&client.OptimizelyFactory{Datafile: datafile}).Client(
		client.WithConfigManager(cm),
		client.WithEventProcessor(processor),
		client.WithOdpDisabled(true),
	)
	if err != nil {
		tb.Fatalf("official client: %v", err)
	}
	tb.Cleanup(c.Close) // closing twice waits for nothing more
	return c
}
