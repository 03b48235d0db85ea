// Command stickybucket decides Optimizely experiments and flags with sticky
// assignments.
//
//	stickybucket decide --datafile DATAFILE.json --requests REQUESTS.jsonl --profiles PROFILES.json
//
// reads one request per line, {"user_id": …, "attributes": {…},
// "experiment": KEY} or the same with "flag": KEY (and optionally
// "options": ["IGNORE_USER_PROFILE_SERVICE", …]), and writes one JSON line
// per request, in order:
//
//	{"user_id": …, "experiment": …, "variation": KEY or null}
//	{"user_id": …, "flag": …, "enabled": BOOL, "variation": KEY or null, "rule": KEY or null}
//
// A key the datafile lacks decides to no variation. A bad line gets
// {"line": N, "error": "…"} in its place, the run goes on, and the exit
// status is 1. Blank lines are skipped; line numbers still count them.
//
// The profiles file is a JSON array of Optimizely profiles. It is loaded into
// the in-memory store if it exists and written back atomically after the
// run, so a second run with a changed datafile shows which users stay put.
//
//	stickybucket compare BEFORE.jsonl AFTER.jsonl
//
// lines up two outputs of decide for the same requests and says, per
// request, whether the variation was kept.
//
//	stickybucket migrate [--config FILE]
//	stickybucket profiles get|delete USER [--config FILE]
//	stickybucket profiles export [--out FILE] [--config FILE]
//	stickybucket profiles import FILE [--config FILE]
//
// administer the Cassandra store the configuration names: create its
// keyspace and schema, read or erase one user, and export or import every
// profile as JSON lines. They live in package admin.
package main
