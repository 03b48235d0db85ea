// Package datafiles holds the datafiles the decision service serves, one
// per Optimizely SDK key, and keeps each up to date with its source.
//
// A Source fetches one datafile's bytes and says cheaply when they have
// not changed: File reads a local file (unchanged when its size, times,
// inode and, after reading, SHA-256 are the same), URL GETs it over HTTP
// with If-None-Match and If-Modified-Since (a 304 is unchanged). Both
// read through a size bound and never buffer more.
//
// A Set holds the datafile in force for each SDK key, parsed
// (decision.ParseDatafile) and wrapped in a *decision.Client built by the
// caller, with what events need of it (events.ParseProject), in an Entry
// that Get returns without taking a lock. Load fetches
// them all at start and fails unless all loaded; Reload fetches them again
// (on SIGHUP), Refresh one of them (on Optimizely's webhook); Start
// watches files with fsnotify and polls URLs. A
// datafile that fails to fetch, parse or build never replaces the one in
// force: the old one keeps serving, and the failure is logged and passed
// to Options.OnLoad for metrics. Close stops the background work.
//
//	set, err := datafiles.New(datafiles.Options{
//		Sources: map[string]datafiles.Source{
//			"SDK_KEY": datafiles.File{Path: "/etc/stickybucket/datafile.json"},
//		},
//		Build: func(sdkKey string, df *decision.Datafile) (*decision.Client, error) {
//			return decision.NewClient(decision.Options{Datafile: df, Profiles: store})
//		},
//	})
//	if err := set.Load(ctx); err != nil { … }
//	if err := set.Start(); err != nil { … }
//	defer set.Close(ctx)
//	e, err := set.Get(r.Header.Get("X-Optimizely-SDK-Key"))
//	d, err := e.Client.Decide(ctx, user, flagKey)
//
// Nothing here serves HTTP: package server does.
package datafiles
