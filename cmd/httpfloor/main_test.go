package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestServersAnswerDecide runs each server on loopback and checks what
// loadbench's decide route checks: a 200 JSON answer carrying the flag's
// key; and that a GET is refused and the server stops when asked.
func TestServersAnswerDecide(t *testing.T) {
	for name, newServer := range servers {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			answer, err := decideAnswer("new_search")
			if err != nil {
				t.Fatal(err)
			}
			serve, stop := newServer(ln, answer)
			done := make(chan error, 1)
			go func() { done <- serve() }()
			url := "http://" + ln.Addr().String() + "/v1/decide?keys=new_search"

			res, err := http.Post(url, "application/json", strings.NewReader(`{"userId":"u1"}`))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var got struct {
				FlagKey string `json:"flagKey"`
			}
			if res.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil || got.FlagKey != "new_search" {
				t.Errorf("POST: %d %s, want 200 with flagKey new_search", res.StatusCode, body)
			}
			res, err = http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusMethodNotAllowed {
				t.Errorf("GET: %d, want 405", res.StatusCode)
			}

			if err := stop(context.Background()); err != nil {
				t.Fatalf("stop: %v", err)
			}
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}
		})
	}
}

func TestRunRefusesBadCommandLines(t *testing.T) {
	for _, args := range [][]string{
		{"--flag", "f"},                // no address
		{"--flag", "f", "10.0.0.1:80"}, // not loopback
		{"127.0.0.1:0"},                // no flag
		{"--server", "gin", "--flag", "f", "127.0.0.1:0"}, // unknown server
	} {
		if err := run(args); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}
