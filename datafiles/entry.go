package datafiles

import (
	"sync"
	"time"

	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/events"
)

// Entry is one SDK key's datafile in force and the client deciding on it.
// An Entry never changes: a new datafile makes a new Entry, so a request
// that got one decides on one datafile from start to end.
type Entry struct {
	// SDKKey is the key the datafile is served under.
	SDKKey string
	// Revision is the datafile's revision field.
	Revision string
	// Client decides on Datafile, built by Options.Build.
	Client *decision.Client
	// Datafile is the parsed datafile.
	Datafile *decision.Datafile
	// Events is what events need of the datafile (account, project,
	// attribute and event IDs…).
	Events *events.Project
	// Raw is the datafile as fetched, for serving it again
	// (GET /v1/datafile). It is shared: do not modify it.
	Raw []byte
	// SHA256 is the hex SHA-256 of Raw, usable as an HTTP ETag.
	SHA256 string
	// Source says where Raw came from (Source.String).
	Source string
	// LoadedAt is when this Entry was put in force.
	LoadedAt time.Time

	// config is the OptimizelyConfig, built on first use.
	config struct {
		once sync.Once
		json []byte
		err  error
	}
}

// OptimizelyConfig returns the datafile's OptimizelyConfig as JSON
// (decision.OptimizelyConfigJSON, its sdkKey defaulting to SDKKey). It is
// built on the first call and kept with the Entry, so once per datafile
// loaded, as the official SDK does; later calls return the same bytes,
// which are shared: do not modify them.
func (e *Entry) OptimizelyConfig() ([]byte, error) {
	e.config.once.Do(func() {
		e.config.json, e.config.err = decision.OptimizelyConfigJSON(e.Raw, e.SDKKey)
	})
	return e.config.json, e.config.err
}
