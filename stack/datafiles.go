package stack

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/datafiles"
	"github.com/stickybucket/stickybucket/decision"
	"github.com/stickybucket/stickybucket/server"
)

// newDatafileSet builds the datafiles cfg lists — files watched, URLs
// (and SDK keys alone, from datafile_url_template) polled at the shortest
// poll_every among them — each parsed within
// datafile_limits and decided on by a client over st. onLoad is told of
// every load and rejection (the set logs them itself).
func newDatafileSet(cfg config.Config, st *Stack, log *slog.Logger, onLoad func(sdkKey, revision string, err error)) (*datafiles.Set, error) {
	limits := datafileLimits(cfg.DatafileLimits)
	// Sources read at most the parser's bound (plus one byte to notice
	// more), so an oversized datafile is refused without being buffered.
	maxBytes := int64(decision.DefaultLimits().MaxBytes)
	if limits.MaxBytes > 0 {
		maxBytes = int64(limits.MaxBytes)
	}
	sources := map[string]datafiles.Source{}
	poll := time.Duration(0)
	for _, d := range cfg.Datafiles {
		if u := d.DatafileURL(cfg.DatafileURLTemplate); u != "" {
			// A URL, or Optimizely's CDN (datafile_url_template) for an
			// SDK key alone.
			src := datafiles.URL{URL: u, MaxBytes: maxBytes}
			if d.AccessToken != "" {
				src.Header = http.Header{"Authorization": {"Bearer " + d.AccessToken}}
			}
			sources[d.SDKKey] = src
			if p := d.PollEvery.Std(); poll == 0 || p < poll {
				poll = p
			}
		} else {
			sources[d.SDKKey] = datafiles.File{Path: d.File, MaxBytes: maxBytes}
		}
	}
	return datafiles.New(datafiles.Options{
		Sources:      sources,
		Parse:        limits.ParseDatafile,
		Build:        func(_ string, df *decision.Datafile) (*decision.Client, error) { return st.NewClient(df) },
		PollInterval: poll,
		Logger:       log,
		OnLoad:       onLoad,
	})
}

// datafileLimits converts datafile_limits; a zero keeps the parser's
// default.
func datafileLimits(l config.DatafileLimits) decision.Limits {
	return decision.Limits{
		MaxBytes: l.MaxBytes, MaxKeyBytes: l.MaxKeyBytes, MaxIDBytes: l.MaxIDBytes,
		MaxConditionDepth: l.MaxConditionDepth, MaxFlagsPerExperiment: l.MaxFlagsPerExperiment,
		MaxProblems: l.MaxProblems,
	}
}

// catalog serves the datafile set to the API.
type catalog struct{ set *datafiles.Set }

func (c catalog) Datafile(sdkKey string) (server.Datafile, error) {
	e, err := c.set.Get(sdkKey)
	switch {
	case errors.Is(err, datafiles.ErrSDKKeyRequired):
		return server.Datafile{}, server.ErrSDKKeyRequired
	case err != nil:
		return server.Datafile{}, fmt.Errorf("%w: %q", server.ErrUnknownSDKKey, sdkKey)
	}
	return server.Datafile{SDKKey: e.SDKKey, Client: e.Client, Raw: e.Raw, Events: e.Events, Config: e.OptimizelyConfig}, nil
}
