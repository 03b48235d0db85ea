// Command stickybucket decides Optimizely experiments and flags with sticky
// assignments.
//
//	stickybucket decide --datafile DATAFILE.json --requests REQUESTS.jsonl --profiles PROFILES.json
//
// reads one request per line, {"userId": …, "userAttributes": {…},
// "experiment": KEY} or the same with "flag": KEY (and optionally
// "decideOptions": ["IGNORE_USER_PROFILE_SERVICE", …] and, for a flag,
// "forcedDecisions": [{"flagKey", "ruleKey", "variationKey"}, …], applied
// as the service applies them and never saved): the field names of
// the HTTP API (Agent's), matched exactly. A name that differs from one of
// them only in case, "_" or "-" is a bad line naming the right one; other
// fields are ignored. The names request lines had before, "user_id",
// "attributes" and "options", are still read, with one warning per run:
// they are deprecated. It writes one JSON line per request, in order:
//
//	{"user_id": …, "experiment": …, "variation": KEY or null}
//	{"user_id": …, "flag": …, "enabled": BOOL, "variation": KEY or null, "rule": KEY or null}
//
// A key the datafile lacks decides to no variation. A bad line gets
// {"line": N, "error": "…"} in its place, the run goes on, and the exit
// status is 1. Blank lines are skipped; line numbers still count them.
// Every string in a request must be valid Unicode text: invalid UTF-8 or a
// lone surrogate escape (\ud800) is a bad line, never replaced by U+FFFD
// (which would make "\xff" and "\xfe" one user). Messages repeat at most
// 64 bytes of a value, then "…(N bytes)".
//
// A result line gets one more field, "warning", only when a valid decision
// was not what the request asked for: today, a user ID longer than the
// profile store can key (ups.MaxUserIDBytes, 512 bytes) is decided without
// stickiness and nothing is saved for it:
//
//	{"user_id": …, "experiment": …, "variation": …, "warning": "user_id is 600 bytes, …"}
//
// The profiles file is a JSON array of Optimizely profiles (one per line
// when decide writes it). It is loaded if it exists and written back after
// the run, so a second run with a changed datafile shows which users stay
// put. Anything but an array of valid profiles (null, say) is an error
// naming the file and the element. Both directions stream, one profile at
// a time, into a compact in-memory table: 600,000 users take about 260 MB
// at peak. Writing back is atomic: a temporary file in the target's
// directory (unnamed on Linux, so even SIGKILL leaves nothing behind),
// fsynced, renamed over the target, then the directory fsynced. A symbolic
// link is followed and its target replaced; the file keeps its permission
// bits (and owner, where allowed). Other hard links to the file keep the
// old content (decide warns).
//
// Output is flushed whenever no further request is ready, so requests fed
// through a pipe get their answers as they go.
//
// SIGINT, SIGTERM and SIGHUP end a run the same way: reading stops at once
// (even mid-line), the request in flight is neither decided nor printed,
// every decision printed before is saved to the profiles file, and the exit
// status is 3. Signals that arrive while the profiles file is being saved
// are ignored, so the save completes.
//
// Exit statuses: 0 success; 1 a bad request line or a file that cannot be
// read or written; 2 a wrong command line; 3 interrupted by a signal, with
// what was completed saved (a shell shows 128+n instead when a signal
// killed the process and nothing was saved).
//
//	stickybucket compare BEFORE.jsonl AFTER.jsonl
//
// lines up two outputs of decide for the same requests and says, per
// request, whether the variation was kept. It reads every line decide can
// write, however long, and skips blank lines; its table cuts values to 64
// bytes and quotes those holding tabs, newlines or other unprintable
// characters. A request that was a bad line in either run is an error
// row, counted apart from the decisions compared. Any other line (decide's
// requests, say) is refused with its number and what is wrong with it.
//
//	stickybucket serve [--config FILE] [--listen HOST:PORT] [--admin-listen HOST:PORT]
//	                   [--datafile [SDKKEY=]PATH|URL]... [--sdk-key SDKKEY]... [--datafile-url-template URL]
//	                   [--store memory|cassandra] [--migrate] [--events-url URL]
//
// is the Agent-compatible HTTP service. The command reads its flags and
// the configuration and logs as it says; package stack (stack.Service)
// builds, runs and stops the rest: store and layers, datafiles, listeners,
// signals.
//
//	stickybucket health [--url URL | --config FILE] [--ready] [--timeout DURATION] [--insecure]
//
// probes a running service's admin listener, for images without a shell.
//
//	stickybucket migrate [--config FILE]
//	stickybucket profiles get|delete USER [--config FILE]
//	stickybucket profiles export [--out FILE] [--ranges N] [--concurrency N]
//	                             [--consistency LEVEL] [--config FILE]
//	stickybucket profiles import FILE|- [--concurrency N] [--config FILE]
//
// administer the Cassandra store the configuration names: create its
// keyspace and schema, read or erase one user, and export or import every
// profile as JSON lines. They live in package admin.
//
//	stickybucket client-secret
//
// makes a client's credentials for serve's POST /oauth/token: the secret
// to give it and the bcrypt hash for server.auth.clients.
//
//	stickybucket version
//
// prints the build's version and commit (--version too).
//
// The README's "Command line" block, the top-level usage, each command's
// -h and these lines say the same (usage_test.go checks it).
package main
