package datafiles_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stickybucket/stickybucket/datafiles"
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/ups"
)

// How `stickybucket serve` wires the Set: every datafile's client shares
// one profile store; the request's X-Optimizely-SDK-Key picks the entry.
func Example() {
	ctx := context.Background()
	store, err := ups.NewMemory(ups.MemoryOptions{})
	if err != nil {
		panic(err)
	}
	set, err := datafiles.New(datafiles.Options{
		Sources: map[string]datafiles.Source{
			"sdk-key-1": datafiles.File{Path: "../examples/datafile-v1.json"},
			// "sdk-key-2": datafiles.URL{URL: "https://cdn.optimizely.com/datafiles/sdk-key-2.json"},
		},
		Build: func(sdkKey string, df *decision.Datafile) (*decision.Client, error) {
			return decision.NewClient(decision.Options{Datafile: df, Profiles: store, StoreBudget: 50 * time.Millisecond})
		},
		OnLoad: func(sdkKey, revision string, err error) {
			// e.g. datafile_loads_total{sdk_key, result} and a revision gauge
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	if err := set.Load(ctx); err != nil {
		panic(err) // do not serve half-configured
	}
	if err := set.Start(); err != nil {
		panic(err)
	}
	defer set.Close(ctx)
	// On SIGHUP: if err := set.Reload(ctx); err != nil { log it }

	// Per request: "" (no header) is fine while there is one datafile.
	e, err := set.Get("")
	switch {
	case errors.Is(err, datafiles.ErrUnknownSDKKey), errors.Is(err, datafiles.ErrSDKKeyRequired):
		return // the client's fault: the server answers with a 4xx
	case err != nil:
		return // ErrNotLoaded: not ready (503)
	}
	d, err := e.Client.Decide(ctx, decision.User{ID: "user-42", Attributes: map[string]any{"country": "de"}}, "new_search")
	if err != nil {
		panic(err)
	}
	fmt.Println(e.SDKKey, "revision", e.Revision, "flag", d.FlagKey)
	// Output: sdk-key-1 revision 1 flag new_search
}
