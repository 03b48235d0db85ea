// Command httpfloor is the floor of the load benchmark's figures: a server
// that does nothing but HTTP. It answers every POST with the same small
// decide answer for --flag, after reading the body, and decides nothing,
// so the CPU it spends per request at a fixed rate (bench/load.sh with
// FLOORS) is what a Go HTTP server pays for the connection, the system
// calls and the wake-ups alone. Measured beside serve and Agent, it says
// how much of their CPU per request is theirs to cut.
//
// --server nethttp serves with net/http, as serve and Agent do; --server
// fasthttp with valyala/fasthttp, whose worker pool starts no goroutine
// per request (net/http starts one to watch each connection while its
// handler runs). It listens on loopback only, reads at most 1 MiB of a
// body, and stops on SIGTERM or SIGINT.
//
// Usage: httpfloor [--server nethttp|fasthttp] --flag KEY HOST:PORT
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// maxBody bounds the body each server reads.
const maxBody = 1 << 20

// servers are the HTTP servers httpfloor can measure, by --server name.
var servers = map[string]func(ln net.Listener, answer []byte) (serve func() error, stop func(context.Context) error){
	"nethttp":  netHTTP,
	"fasthttp": fastHTTP,
}

// decideAnswer is the answer to every request: a decision for flag, in
// the shape of Agent's /v1/decide?keys=FLAG answer.
func decideAnswer(flag string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"flagKey":      flag,
		"variationKey": "floor",
		"enabled":      true,
		"ruleKey":      "floor",
		"reasons":      []string{},
	})
}

// The timeouts of serve's listeners (server.Options' defaults), so each
// floor sets the same deadlines per request as serve does.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 2 * time.Minute
)

// netHTTP serves answer with net/http.
func netHTTP(ln net.Listener, answer []byte) (func() error, func(context.Context) error) {
	srv := &http.Server{
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost {
				w.WriteHeader(http.StatusMethodNotAllowed)
				return
			}
			if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(answer)
		}),
	}
	serve := func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
	return serve, srv.Shutdown
}

// fastHTTP serves answer with fasthttp (which has no header timeout of
// its own: its read timeout covers the whole request); it refuses bodies
// over maxBody itself (413).
func fastHTTP(ln net.Listener, answer []byte) (func() error, func(context.Context) error) {
	srv := &fasthttp.Server{
		MaxRequestBodySize: maxBody,
		ReadTimeout:        readTimeout,
		WriteTimeout:       writeTimeout,
		IdleTimeout:        idleTimeout,
		Handler: func(c *fasthttp.RequestCtx) {
			if !c.IsPost() {
				c.SetStatusCode(http.StatusMethodNotAllowed)
				return
			}
			_ = c.PostBody()
			c.SetContentType("application/json")
			_, _ = c.Write(answer)
		},
	}
	return func() error { return srv.Serve(ln) }, srv.ShutdownWithContext
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "httpfloor: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("httpfloor", flag.ContinueOnError)
	server := fs.String("server", "nethttp", "the HTTP `server`: nethttp or fasthttp")
	flagKey := fs.String("flag", "", "the flag `key` every answer carries (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	newServer, ok := servers[*server]
	if !ok {
		return fmt.Errorf("--server %q: want nethttp or fasthttp", *server)
	}
	if *flagKey == "" || fs.NArg() != 1 {
		return errors.New("usage: httpfloor [--server nethttp|fasthttp] --flag KEY HOST:PORT (a loopback address)")
	}
	addr := fs.Arg(0)
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q: want a loopback HOST:PORT", addr)
	}
	answer, err := decideAnswer(*flagKey)
	if err != nil {
		return fmt.Errorf("encode the answer for flag %q: %w", *flagKey, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	serve, stop := newServer(ln, answer)
	fmt.Printf("httpfloor: %s listening on %s\n", *server, ln.Addr())
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	if err := stop(shutdown); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	return <-done
}
