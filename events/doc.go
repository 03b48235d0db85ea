// Package events sends Optimizely's impression and conversion events in
// the format of Optimizely's event API: the batches the official SDKs
// send to https://logx.optimizely.com/v1/events, field for field, so an
// experiment decided by stickybucket is read in Optimizely's results as
// if an SDK (or Agent) had decided it.
//
// A Project is what events need of a datafile (account, project,
// revision, anonymizeIP, botFiltering, sendFlagDecisions, attribute and
// event IDs), parsed from its bytes. A Processor queues events and sends
// them in batches:
//
//   - Impression queues a campaign_activated event for a decision (a
//     rollout's, or one that served no variation, only when the
//     datafile's sendFlagDecisions is true, as the SDKs do); Conversion
//     queues a tracked event with its tags, revenue (an integer) and value
//     (a number) taken from the tags as the SDKs take them.
//   - Both encode the event (about a microsecond; the caller's maps are
//     not kept) and append its JSON to the open batch of the event's
//     datafile, under a mutex: the request path never waits for the
//     endpoint. A batch holds the events of one datafile, so events of
//     different projects or revisions never share one. QueueSize and
//     QueueBytes bound the events not yet sent (open, waiting for a
//     sender, or being sent) by count and by the size of their JSON;
//     beyond either an event is dropped (counted).
//   - A batch goes to the senders when it holds BatchSize events (or a
//     megabyte of JSON), and every FlushInterval when it holds fewer;
//     Senders goroutines POST them, retrying network errors, 408, 429 and 5xx answers
//     with exponential backoff for RetryFor, counting a batch the endpoint
//     refuses (other 4xx) or that runs out of retries as dropped.
//   - Close sends every queued event (retrying as above) until its
//     context ends, then counts what is left as dropped and says so.
//
// Events are built as the official Go SDK v2 builds them (visitor
// attributes only for keys the datafile knows, or starting with $opt_,
// with valid values: strings, booleans, finite numbers within ±2^53),
// except that $opt_bot_filtering is added only when the datafile sets
// botFiltering (as the Python, JavaScript and Java SDKs do; the Go SDK
// adds false when it is absent), and that client_name and client_version
// name stickybucket (Options.ClientName, ClientVersion) rather than an
// SDK, as Optimizely's event API documentation invites a custom client to.
// The uuid of each event is made when it is queued; its timestamp is the
// decision's or the track's.
//
// The package imports nothing of stickybucket: the server turns its
// decisions into Decisions, the composition root builds the Processor.
package events
