package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpClient calls the serve containers on loopback: no proxy, and a
// bound on every call.
var httpClient = &http.Client{
	Transport: &http.Transport{Proxy: nil},
	Timeout:   10 * time.Second,
}

// flag is the flag the demo decides: its experiment (search_experiment,
// 3003) swaps its two variations' traffic between the example datafiles'
// revisions 1 and 2, so every user moves without profiles.
const (
	flagKey      = "new_search"
	experimentID = "3003"
)

// decision is the part of a /v1/decide answer the demo prints.
type decision struct {
	VariationKey string   `json:"variationKey"`
	RuleKey      string   `json:"ruleKey"`
	Enabled      bool     `json:"enabled"`
	Reasons      []string `json:"reasons"`
}

// decide asks the API listener at base to decide the flag for user, with
// Agent's decide options.
func decide(ctx context.Context, base, user string, options ...string) (decision, error) {
	body, err := json.Marshal(map[string]any{"userId": user, "decideOptions": append([]string{"INCLUDE_REASONS"}, options...)})
	if err != nil {
		return decision{}, fmt.Errorf("encoding the decide request: %w", err)
	}
	var d decision
	if err := call(ctx, http.MethodPost, base+"/v1/decide?keys="+flagKey, body, &d); err != nil {
		return decision{}, fmt.Errorf("deciding %s for %s: %w", flagKey, user, err)
	}
	if d.VariationKey == "" {
		return d, fmt.Errorf("deciding %s for %s: no variation (rule %q, reasons %q)", flagKey, user, d.RuleKey, d.Reasons)
	}
	return d, nil
}

// revision returns the revision of the datafile the API at base serves.
func revision(ctx context.Context, base string) (string, error) {
	var c struct {
		Revision string `json:"revision"`
	}
	if err := call(ctx, http.MethodGet, base+"/v1/config", nil, &c); err != nil {
		return "", fmt.Errorf("reading the datafile revision: %w", err)
	}
	return c.Revision, nil
}

// call sends one request and decodes a 200 answer into out.
func call(ctx context.Context, method, url string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	return nil
}

// counter returns the value of an unlabelled counter or gauge from the
// admin listener's /metrics.
func counter(ctx context.Context, admin, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", name, err)
	}
	return 0, fmt.Errorf("%s is not among the metrics", name)
}

// ready reports whether the admin listener at admin answers /ready.
func ready(ctx context.Context, admin string) error {
	var r struct {
		Status string `json:"status"`
	}
	return call(ctx, http.MethodGet, admin+"/ready", nil, &r)
}
