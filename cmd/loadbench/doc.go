// Command loadbench measures Optimizely-compatible decision services side
// by side: stickybucket's service and Optimizely Agent, on the same machine,
// with the same driver, in one run.
//
//	loadbench --target agent=http://127.0.0.1:18080 --target stickybucket=http://127.0.0.1:18180 \
//	    --flag new_search --sdk-key KEY --baseline agent --out results.json --svg results.svg
//
// Every request is POST /v1/decide?keys=FLAG with the headers
// X-Optimizely-SDK-Key and Content-Type: application/json and the body
// {"userId": …, "userAttributes": {…}}, for a user drawn from a fixed pool
// (--users, default 5,000, named user-000000, …; --attributes gives each
// user one value per attribute; --seed fixes the draws). Bodies are built
// once before the run.
//
// Each target gets --clients (default 16) clients, each sending one
// request at a time over its own keep-alive connection. The HTTP client is
// fasthttp's, which costs the driver about half the CPU per request of
// net/http's (the driver shares the machine with what it measures); it never
// resends a request, so every request the server may have seen is counted
// once. Targets are measured in turns, round after round (A, B, A, B, …),
// so noise on the machine falls on both alike; before each measured round a
// target gets --warmup of unmeasured load. A round ends after --duration or
// --max-requests, whichever comes first; every request has --timeout.
// Only http URLs on loopback addresses are accepted, and the dialer refuses
// any other address.
//
// A request is OK when it gets a 2xx response that parses as JSON and
// carries the flag's key. Errors are counted by kind: a non-2xx status, a
// transport error (no complete response), a bad response (2xx without a
// decision for the flag). Latency is measured from sending the request to
// the last byte of the response, for OK requests, into an HdrHistogram per
// client (3 significant digits); requests/s is OK requests per second of
// measured time. Each target's report also has the variations it decided,
// the TCP connections it needed, and how many cores were busy while it was
// measured (Linux /proc): the whole machine, the driver, the target's server
// if --pid NAME=PID names its process, and the rest (other programs on a
// shared machine), which says how far to trust the figures.
//
// --out writes the figures as JSON, --svg draws latency against percentile
// (a "nines" axis: p50, p90, p99, p99.9, … evenly spaced) with one line per
// target. --baseline NAME adds each other target's ratios to it. The
// exit status is 1 when the run failed or was interrupted, or when any
// measured request failed (the files are written anyway), and 2 for a bad
// command line.
//
// bench/load.sh starts the services on loopback and runs this driver over
// them.
package main
