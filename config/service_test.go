package config

import (
	"strings"
	"testing"
	"time"
)

func TestServiceDefaults(t *testing.T) {
	cfg, err := Parse([]byte("environments:\n  development:\n    replication: {class: SimpleStrategy, replication_factor: 1}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Kind != StoreMemory || cfg.Store.Saves.Mode != SavesSync || cfg.Store.Cache.Size != 0 || !cfg.Store.Budget.Auto ||
		cfg.Store.BudgetFloor.Std() != 250*time.Millisecond || cfg.Store.BudgetCeiling.Std() != time.Second || cfg.Store.FirstWriterBudget.Std() != 2*time.Second ||
		cfg.Store.Breaker.UnansweredFor.Std() != 2*time.Second || cfg.Cassandra.SpeculativeAfter.Std() != 100*time.Millisecond {
		t.Errorf("store defaults: %+v", cfg.Store)
	}
	// ups.DefaultAsync…, as README documents them.
	if s := cfg.Store.Saves; s.Queue != 10000 || s.Workers != 8 || s.OnFull != "wait-then-drop" || s.FullWait.Std() != 20*time.Millisecond || s.RetryFor.Std() != time.Minute {
		t.Errorf("saves defaults: %+v", s)
	}
	// server.DefaultBatchMaxConcurrency and …OperationsLimit: Agent's.
	if cfg.Server.Listen != "127.0.0.1:8080" || cfg.Server.AdminListen != "127.0.0.1:8088" || cfg.Server.ShutdownTimeout.Std() != 30*time.Second ||
		cfg.Server.BatchRequests != (BatchRequests{MaxConcurrency: 10, OperationsLimit: 500}) {
		t.Errorf("server defaults: %+v", cfg.Server)
	}
	// Off, as Agent's api.enableNotifications; server.DefaultMaxSubscribers
	// and DefaultNotificationBuffer.
	if cfg.Server.Notifications != (Notifications{MaxSubscribers: 100, Buffer: 1024}) {
		t.Errorf("server.notifications defaults: %+v", cfg.Server.Notifications)
	}
	if cfg.Log.Level != "info" || cfg.Log.Format != "auto" {
		t.Errorf("log defaults: %+v", cfg.Log)
	}
}

// TestCassandraDefaults: with the Cassandra store, keys left out get a
// cache and async saves (a decision then waits for one read, and a read
// that runs past the budget fills the cache); keys written keep what was
// written, zero included.
func TestCassandraDefaults(t *testing.T) {
	base := "environments:\n  development:\n    replication: {class: SimpleStrategy, replication_factor: 1}\nstore:\n  kind: cassandra\n"
	for _, c := range []struct {
		extra string
		env   map[string]string
		mode  string
		size  int
		ttl   time.Duration
	}{
		{"", nil, SavesAsync, DefaultCacheSize, DefaultCacheTTL},
		{"  saves: {mode: sync}\n  cache: {size: 0}\n", nil, SavesSync, 0, 0},
		{"  cache: {size: 10}\n", nil, SavesAsync, 10, DefaultCacheTTL},
		{"  cache: {ttl: 1m}\n", nil, SavesAsync, DefaultCacheSize, time.Minute},
		{"", map[string]string{"STICKYBUCKET_SAVE_MODE": "sync", "STICKYBUCKET_CACHE_SIZE": "0"}, SavesSync, 0, 0},
	} {
		lookup := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
		cfg, err := Parse([]byte(base+c.extra), lookup)
		if err != nil {
			t.Fatalf("%q %v: %v", c.extra, c.env, err)
		}
		if s := cfg.Store; s.Saves.Mode != c.mode || s.Cache.Size != c.size || s.Cache.TTL.Std() != c.ttl {
			t.Errorf("%q %v: saves %s, cache %d for %s; want %s, %d for %s", c.extra, c.env, s.Saves.Mode, s.Cache.Size, s.Cache.TTL.Std(), c.mode, c.size, c.ttl)
		}
	}
	cfg, err := Parse([]byte(base+"  budget: 300ms\n"), func(k string) (string, bool) { return "", false })
	if err != nil || cfg.Store.Budget.Auto || cfg.Store.Budget.Fixed.Std() != 300*time.Millisecond || cfg.Store.Budget.String() != "300ms" {
		t.Errorf("budget: 300ms = %+v, %v", cfg.Store.Budget, err)
	}
	cfg, err = Parse([]byte(base+"  budget: auto\n"), func(k string) (string, bool) {
		return map[string]string{"STICKYBUCKET_STORE_BUDGET": "2s"}[k], k == "STICKYBUCKET_STORE_BUDGET"
	})
	if err != nil || cfg.Store.Budget.Auto || cfg.Store.Budget.Fixed.Std() != 2*time.Second {
		t.Errorf("STICKYBUCKET_STORE_BUDGET=2s over auto = %+v, %v", cfg.Store.Budget, err)
	}
}

func TestServiceConfig(t *testing.T) {
	yaml := `
environment: production
environments:
  production:
    retention: 30d
    refresh_after: 7d
    reset:
      "1001": 2026-11-01T00:00:00Z
      "1002": {before: 2026-11-20T12:00:00Z, exclude_previous: true}
    first_writer_wins: true
    serial_consistency: local_serial
    replication: {class: SimpleStrategy, replication_factor: 1}
store:
  kind: cassandra
  budget: 40ms
  cache: {size: 50000, ttl: 20s}
  saves: {mode: async, queue: 500, workers: 4, on_full: write-through, retry_for: 30s}
  breaker: {failures: 3, open_for: 2s}
server:
  listen: 0.0.0.0:9000
  tokens: [0123456789abcdef0123]
  tls: {cert_file: c.pem, key_file: k.pem}
  batch_requests: {max_concurrency: 4, operations_limit: 50}
  notifications: {enabled: true, max_subscribers: 7, buffer: 16}
datafiles:
  - {sdk_key: prod, file: examples/datafile-v1.json}
  - {sdk_key: cdn, url: "https://cdn.example.com/datafiles/cdn.json", poll_every: 30s}
log: {level: debug, format: json}
`
	cfg, err := Parse([]byte(yaml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := cfg.Active()
	if env.RefreshAfter.Std() != 7*24*time.Hour || !env.FirstWriterWins || env.SerialConsistency != "LOCAL_SERIAL" {
		t.Errorf("policies: %+v", env)
	}
	if r := env.Reset["1001"]; !r.Before.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) || r.ExcludePrevious {
		t.Errorf("reset 1001 = %+v", r)
	}
	if r := env.Reset["1002"]; !r.ExcludePrevious || r.Before.Hour() != 12 {
		t.Errorf("reset 1002 = %+v", r)
	}
	if cfg.Store.Kind != StoreCassandra || cfg.Store.Cache.Size != 50000 || cfg.Store.Saves.OnFull != "write-through" || cfg.Store.Breaker.Failures != 3 {
		t.Errorf("store: %+v", cfg.Store)
	}
	if cfg.Server.BatchRequests != (BatchRequests{MaxConcurrency: 4, OperationsLimit: 50}) {
		t.Errorf("server.batch_requests: %+v", cfg.Server.BatchRequests)
	}
	if cfg.Server.Notifications != (Notifications{Enabled: true, MaxSubscribers: 7, Buffer: 16}) {
		t.Errorf("server.notifications: %+v", cfg.Server.Notifications)
	}
	if len(cfg.Datafiles) != 2 || cfg.Datafiles[1].PollEvery.Std() != 30*time.Second {
		t.Errorf("datafiles: %+v", cfg.Datafiles)
	}
}

func TestServiceConfigErrorsNameTheKey(t *testing.T) {
	base := "environments:\n  development:\n    retention: 10d\n    replication: {class: SimpleStrategy, replication_factor: 1}\n"
	tests := []struct{ extra, want string }{
		{"store: {kind: redis}", `store.kind: "redis" is not memory or cassandra`},
		{"store: {budget: 5m}", "store.budget: 5m0s is outside 1ms…1m0s"},
		{"store: {cache: {size: 10, ttl: 0s}}", "store.cache.ttl: 0s is outside"},
		{"store:\n  budget: soon", `store.budget (line 6): invalid duration "soon": use Go syntax such as 36h or 90m, or whole days such as 30d, or auto`},
		{"store: {budget_floor: 2s}", "store.budget_floor: 2s is above store.budget_ceiling (1s)"},
		{"store: {breaker: {unanswered_for: 0s}}", "store.breaker.unanswered_for: 0s is outside"},
		{"cassandra: {speculative_after: 5s}", "cassandra.speculative_after: 5s is outside 1ms to the query timeout (2s); 0 turns it off"},
		{"store: {cache: {ttl: 10s}}", "store.cache.ttl: set without store.cache.size"},
		{"store: {saves: {mode: later}}", `store.saves.mode: "later" is not sync or async`},
		{"store: {saves: {on_full: panic}}", `store.saves.on_full: "panic" is not a full-queue policy: want wait-then-drop, write-through or drop`},
		{"server: {listen: nowhere}", `server.listen: "nowhere" is not host:port`},
		{"server: {tokens: [short]}", "server.tokens[0]: 5 bytes; a token needs at least 16"},
		{"server: {tls: {cert_file: c.pem}}", "server.tls: cert_file and key_file must be set together"},
		{"server: {batch_requests: {max_concurrency: -1}}", "server.batch_requests.max_concurrency: -1 is outside 1…1000"},
		{"server: {batch_requests: {operations_limit: 1000000}}", "server.batch_requests.operations_limit: 1000000 is outside 1…100000"},
		{"server: {notifications: {max_subscribers: -1}}", "server.notifications.max_subscribers: -1 is outside 1…100000"},
		{"server: {notifications: {buffer: 2000000}}", "server.notifications.buffer: 2000000 is outside 1…1000000"},
		{"datafiles: [{sdk_key: a, file: x, url: 'http://y'}]", "datafiles[0]: set at most one of file and url"},
		{"datafiles: [{sdk_key: a, file: x}, {sdk_key: a, file: y}]", `datafiles[1].sdk_key: "a" is listed twice`},
		{"datafiles: [{sdk_key: 'a b', file: x}]", `datafiles[0].sdk_key: "a b" is not an SDK key`},
		{"datafiles: [{sdk_key: a, url: 'ftp://x'}]", `datafiles[0].url: "ftp://x" is not an http(s) URL`},
		{"log: {level: loud}", `log.level: "loud"`},
		{"cassandra: {log_level: chatty}", `cassandra.log_level: "chatty" is not debug, info, warn or error`},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(base+tt.extra+"\n"), noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.extra, err, tt.want)
		}
	}
	env := []struct{ env, want string }{
		{"    refresh_after: 10d\n", "environments.development.refresh_after: 240h0m0s must be shorter than retention"},
		{"    refresh_after: 1d\n    retention_overrides: {\"7\": 12h}\n", `refresh_after: 24h0m0s must be shorter than retention_overrides["7"]`},
		{"    reset: {\"7\": yesterday}\n", `is not an RFC 3339 time`},
		{"    serial_consistency: QUORUM\n", `serial_consistency: "QUORUM" is not one of SERIAL, LOCAL_SERIAL`},
	}
	for _, tt := range env {
		_, err := Parse([]byte(base+tt.env), noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.env, err, tt.want)
		}
	}
}

func TestServiceEnvOverrides(t *testing.T) {
	cfg, err := Load("../stickybucket.example.yaml", envMap(map[string]string{
		"STICKYBUCKET_STORE":         "cassandra",
		"STICKYBUCKET_CACHE_SIZE":    "1000",
		"STICKYBUCKET_CACHE_TTL":     "5s",
		"STICKYBUCKET_SAVE_MODE":     "async",
		"STICKYBUCKET_LISTEN":        "127.0.0.1:18080",
		"STICKYBUCKET_API_TOKENS":    "aaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbb",
		"STICKYBUCKET_DATAFILES":     "k1=examples/datafile-v1.json,cdn=https://cdn.example.com/x.json",
		"STICKYBUCKET_REFRESH_AFTER": "6h",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store.Kind != "cassandra" || cfg.Store.Cache.Size != 1000 || cfg.Store.Saves.Mode != "async" || cfg.Server.Listen != "127.0.0.1:18080" || len(cfg.Server.Tokens) != 2 {
		t.Errorf("overrides not applied: %+v %+v", cfg.Store, cfg.Server)
	}
	if len(cfg.Datafiles) != 2 || cfg.Datafiles[0].File != "examples/datafile-v1.json" || cfg.Datafiles[1].URL == "" {
		t.Errorf("datafiles: %+v", cfg.Datafiles)
	}
	if env, _ := cfg.Active(); env.RefreshAfter.Std() != 6*time.Hour {
		t.Errorf("refresh_after: %v", env.RefreshAfter)
	}
}

func TestParseDatafileSources(t *testing.T) {
	got, err := ParseDatafileSources([]string{"examples/datafile-v1.json", "k=a.json", "c=http://x/y.json"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].SDKKey != "datafile-v1" || got[0].File != "examples/datafile-v1.json" || got[1].SDKKey != "k" || got[2].URL != "http://x/y.json" {
		t.Errorf("%+v", got)
	}
	if _, err := ParseDatafileSources([]string{"k="}); err == nil {
		t.Error("k= accepted")
	}
}

// TestSetStoreKind: a store kind given after the file (serve --store) gets
// that kind's defaults for the keys the file left out, and keeps the keys
// it wrote.
func TestSetStoreKind(t *testing.T) {
	cfg, err := Parse(nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SetStoreKind(StoreCassandra)
	if s := cfg.Store; s.Saves.Mode != SavesAsync || s.Cache.Size != DefaultCacheSize || s.Cache.TTL.Std() != DefaultCacheTTL {
		t.Errorf("memory defaults, then --store cassandra: %+v", s)
	}
	written, err := Parse([]byte("store: {saves: {mode: sync}, cache: {size: 0}}\n"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	written.SetStoreKind(StoreCassandra)
	if s := written.Store; s.Saves.Mode != SavesSync || s.Cache.Size != 0 {
		t.Errorf("written keys, then --store cassandra: %+v; want them kept", s)
	}
	cfg.SetStoreKind(StoreMemory)
	if s := cfg.Store; s.Saves.Mode != SavesSync || s.Cache.Size != 0 {
		t.Errorf("back to memory: %+v; want memory's defaults", s)
	}
}
