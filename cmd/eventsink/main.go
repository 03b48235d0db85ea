// Command eventsink stands in for Optimizely's event endpoint in load
// benchmarks (bench/load.sh with EVENTS=on): it answers every POST with
// 204 and counts, per path, the requests, their bytes and the events they
// carry, and prints the counts as JSON when SIGTERM or SIGINT stops it.
// It listens on loopback only and reads at most 16 MiB of a body.
//
// Usage: eventsink HOST:PORT
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

const maxBody = 16 << 20

// counts are one path's totals.
type counts struct {
	Requests int64 `json:"requests"`
	Bytes    int64 `json:"bytes"`
	// Events counts the "uuid" keys of the batches: one per event
	// (impression or conversion); attributes and decisions have none.
	Events int64 `json:"events"`
	Bad    int64 `json:"bad"`
}

type sink struct {
	mu     sync.Mutex
	byPath map[string]*counts
}

func (s *sink) add(path string, f func(*counts)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.byPath[path]
	if c == nil {
		c = &counts{}
		s.byPath[path] = c
	}
	f(c)
}

var eventUUID = []byte(`"uuid"`)

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		s.add(r.URL.Path, func(c *counts) { c.Bad++ })
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		return
	}
	n := int64(bytes.Count(body, eventUUID))
	s.add(r.URL.Path, func(c *counts) {
		c.Requests++
		c.Bytes += int64(len(body))
		c.Events += n
	})
	w.WriteHeader(http.StatusNoContent)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: eventsink HOST:PORT (a loopback address)")
		os.Exit(2)
	}
	host, _, err := net.SplitHostPort(os.Args[1])
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintf(os.Stderr, "eventsink: %q: want a loopback HOST:PORT\n", os.Args[1])
		os.Exit(2)
	}
	s := &sink{byPath: map[string]*counts{}}
	srv := &http.Server{Addr: os.Args[1], Handler: s, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "eventsink: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("eventsink: listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "eventsink: %v\n", err)
		os.Exit(1)
	}
	s.mu.Lock()
	out, _ := json.Marshal(s.byPath)
	s.mu.Unlock()
	fmt.Printf("eventsink: %s\n", out)
}
