package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

func Example() {
	dir, _ := os.MkdirTemp("", "stickybucket-example")
	defer os.RemoveAll(dir)
	requests := filepath.Join(dir, "requests.jsonl")
	os.WriteFile(requests, []byte(strings.Join([]string{
		`{"userId": "alice", "userAttributes": {"country": "de"}, "experiment": "pricing_page"}`,
		`{"userId": "alice", "userAttributes": {"plan": "pro", "app_version": "3.2.0"}, "flag": "dark_mode"}`,
		`{"userId": "alice"}`,
	}, "\n")), 0o644)
	run(context.Background(), []string{"decide",
		"--datafile", "../../examples/datafile-v1.json",
		"--requests", requests,
		"--profiles", filepath.Join(dir, "profiles.json"),
	}, nil, os.Stdout, &strings.Builder{})
	// Output:
	// {"user_id":"alice","experiment":"pricing_page","variation":"old_prices"}
	// {"user_id":"alice","flag":"dark_mode","enabled":true,"variation":"on","rule":"paying_recent_app"}
	// {"line":3,"error":"one of \"experiment\" or \"flag\" is required"}
}
