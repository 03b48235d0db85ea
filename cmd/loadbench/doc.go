// Command loadbench measures Optimizely-compatible decision services side
// by side: stickybucket's service and Optimizely Agent, on the same machine,
// with the same driver, in one run.
//
//	loadbench --target agent=http://127.0.0.1:18080 --target stickybucket=http://127.0.0.1:18180 \
//	    --flag new_search --sdk-key KEY --baseline agent --out results.json --svg results.svg
//	loadbench --target lookup=http://127.0.0.1:18180 --route lookup=lookup \
//	    --target ups=http://127.0.0.1:18180 --route ups=ups-lookup --sdk-key KEY --rate 5000 --pid lookup=PID --pid ups=PID
//
// Each target is asked one route (--route NAME=ROUTE, default decide), so
// one run can set routes side by side on the same server or on two:
//
//	decide      POST /v1/decide?keys=FLAG {"userId", "userAttributes"}
//	lookup      POST /v1/lookup {"userId"} (Agent's, and stickybucket's)
//	ups-lookup  POST /v1/ups/lookup {"user_id"} (stickybucket's SDK schema)
//	ups-save    POST /v1/ups/save {"user_id", "experiment_bucket_map":
//	            --save-profile}: the whole profile, as an SDK sends it after
//	            every new decision (default {"3003":{"variation_id":"4005"}})
//
// with the headers Content-Type: application/json and, when --sdk-key is
// given (the decide and lookup routes need it), X-Optimizely-SDK-Key. Users
// come from a fixed pool (--users, default 5,000, named user-000000, …;
// --attributes gives each user one value per attribute; --seed fixes the
// draws). Bodies are built once per user and route before the run.
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
// Without --rate the loop is closed: each client sends its next request
// when it has the last answer, and latency is measured from sending. With
// --rate N the loop is open: each target gets N requests per second
// whatever its answers, request k of a round being due at start + k/N.
// A free client takes the next request due, waits for its time (with
// nanosleep: Go's timers would wake up to a millisecond late) and sends
// it; a request due while every client is busy waits for one and is
// counted late. Latency counts from the time a request was due, so the
// queue a stalling server causes is in its latencies (the correction for
// coordinated omission of wrk2 and HdrHistogram). Requests still waiting
// when the round's time is up are counted unsent. A target held the rate
// when it kept up: every request sent was answered OK and at most 0.1 % of
// those due were left unsent. The report adds the late and unsent counts
// and the send delay (due to sent) of every request. --cpuprofile writes
// the driver's own CPU profile; --chart-from FILE --svg OUT only redraws
// the chart of an earlier run.
//
// A request is OK when it gets a 2xx response that parses as JSON and is
// the route's answer: a decision carrying the flag's key; a profile
// echoing the user ID with a bucket map; a save's counts (written,
// unchanged, lost). Errors are counted by kind: a non-2xx status, a
// transport error (no complete response), a bad response (a 2xx that is
// not the route's answer). Latency is measured to the last byte of the
// response, for OK requests, into an HdrHistogram per client (3
// significant digits); requests/s is OK requests per second of measured
// time. Each target's report also has its answers by kind (the variations
// decided, the profile sizes looked up, the save counts), the TCP
// connections it needed, and how many cores were busy while it was
// measured (Linux /proc): the whole machine, the driver, the target's
// server if --pid NAME=PID names its process, and the rest (other programs
// on a shared machine), which says how far to trust the figures. With
// --pid it also has the server's CPU time (user + system) per OK request,
// in microseconds: on a shared machine a fairer figure than a closed
// loop's peak requests/s.
//
// --out writes the figures as JSON, --svg draws latency against percentile
// (a "nines" axis: p50, p90, p99, p99.9, … evenly spaced) with one line per
// target. --baseline NAME adds each other target's ratios to it
// (requests/s, p50, p99, CPU per request, and on the open loop whether both
// held the rate). The exit status is 1 when the run failed or was
// interrupted, or when any measured request failed (the files are written
// anyway), and 2 for a bad command line.
//
// bench/load.sh starts the services on loopback and runs this driver over
// them: decide on the closed loop, decide at fixed rates against Agent,
// and the profile routes.
package main
