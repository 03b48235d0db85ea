package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/stickybucket/stickybucket/ups"
)

// Store kinds.
const (
	StoreMemory    = "memory"
	StoreCassandra = "cassandra"
)

// Save modes.
const (
	SavesSync  = "sync"
	SavesAsync = "async"
)

// Store says where assignments are kept and how the layers above the store
// behave: the cache, the save mode and the breaker.
type Store struct {
	// Kind is memory (the default: in this process only) or cassandra.
	Kind string `yaml:"kind"`
	// Budget bounds the time one decision waits for a Cassandra store
	// (its lookup, and its save when saves are sync); past it the user is
	// decided without the profile, the decision says so, and the lookup
	// goes on in the background to fill the cache. "auto" (the default)
	// is 4 × the 99th percentile of recent lookups within BudgetFloor and
	// BudgetCeiling; or a fixed duration. Not used with the memory store.
	Budget Budget `yaml:"budget"`
	// BudgetFloor and BudgetCeiling bound the auto budget; defaults 250ms
	// and 1s.
	BudgetFloor   Duration `yaml:"budget_floor"`
	BudgetCeiling Duration `yaml:"budget_ceiling"`
	// FirstWriterBudget bounds the conditional write of a user's first
	// assignment under first_writer_wins (a Paxos round, across
	// datacenters at SERIAL); default 2s.
	FirstWriterBudget Duration `yaml:"first_writer_budget"`
	// Cache is on by default with Cassandra (50,000 users, 10s), off with
	// the memory store.
	Cache Cache `yaml:"cache"`
	// Saves are async by default with Cassandra, sync with the memory
	// store.
	Saves Saves `yaml:"saves"`
	// Breaker fails store calls at once while Cassandra is down. Not used
	// with the memory store.
	Breaker Breaker `yaml:"breaker"`
	// Memory bounds the memory store.
	Memory Memory `yaml:"memory"`
}

// Memory configures the in-memory store.
type Memory struct {
	// MaxBytes bounds what it holds (IDs plus a fixed overhead per user
	// and assignment); beyond it the least recently used users are
	// evicted. 0: no bound. Default 256 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
}

// Cache is the read-through cache in front of the store.
type Cache struct {
	// Size is how many users' profiles are kept; 0 means no cache.
	// Default 50,000 with Cassandra, 0 with the memory store.
	Size int `yaml:"size"`
	// TTL bounds how stale a cached profile can be when another server
	// assigns the same user; default 10s.
	TTL Duration `yaml:"ttl"`
}

// Saves says how assignments reach the store.
type Saves struct {
	// Mode is sync (the decision waits for the write) or async (a queue
	// and workers write in the background, in each user's order, retried;
	// see ups.AsyncSaver for what an accepted save promises). Default
	// async with Cassandra, sync with the memory store.
	Mode string `yaml:"mode"`
	// Queue bounds the users with saves waiting (async); default 10000
	// (ups.DefaultAsyncQueue).
	Queue int `yaml:"queue"`
	// Workers write in parallel (async); default 8
	// (ups.DefaultAsyncWorkers).
	Workers int `yaml:"workers"`
	// OnFull is what a save does when the queue is full (async):
	// wait-then-drop (default), write-through or drop (ups.FullPolicy).
	OnFull string `yaml:"on_full"`
	// FullWait is how long wait-then-drop waits; default 20ms
	// (ups.DefaultAsyncFullWait).
	FullWait Duration `yaml:"full_wait"`
	// RetryFor bounds retries of a write while the store is unavailable
	// (async); default 1m (ups.DefaultAsyncRetryFor).
	RetryFor Duration `yaml:"retry_for"`
}

// Breaker configures the circuit breaker in front of Cassandra.
type Breaker struct {
	// Disabled turns it off.
	Disabled bool `yaml:"disabled"`
	// Failures in a row open it; default 5.
	Failures int `yaml:"failures"`
	// OpenFor is how long it fails calls at once before probing; default 5s.
	OpenFor Duration `yaml:"open_for"`
	// UnansweredFor: calls that time out count as failures only once the
	// store has answered nothing for this long, so a slow store never
	// opens the breaker; default 2s.
	UnansweredFor Duration `yaml:"unanswered_for"`
}

// Server configures `stickybucket serve`.
type Server struct {
	// Listen is the API's host:port; default 127.0.0.1:8080.
	Listen string `yaml:"listen"`
	// AdminListen serves /metrics, /health, /ready and pprof; default
	// 127.0.0.1:8088; "off" serves none.
	AdminListen string `yaml:"admin_listen"`
	// Tokens are the API's bearer tokens (plain, or "sha256:<hex>" of
	// one). Without any the service listens on loopback only, unless
	// AllowUnauthenticated.
	Tokens []string `yaml:"tokens"`
	// AdminTokens protect /metrics and pprof.
	AdminTokens []string `yaml:"admin_tokens"`
	// Auth adds JWTs on the API (Agent's api.auth), AdminAuth on the
	// admin listener (Agent's admin.auth): auth.go.
	Auth      Auth `yaml:"auth"`
	AdminAuth Auth `yaml:"admin_auth"`
	// AllowUnauthenticated lets the service listen beyond loopback
	// without tokens.
	AllowUnauthenticated bool      `yaml:"allow_unauthenticated"`
	TLS                  ServerTLS `yaml:"tls"`
	// MaxBodyBytes bounds request bodies; default 1 MiB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// BatchRequests bounds POST /v1/batch, as Agent's
	// server.batchRequests does.
	BatchRequests BatchRequests `yaml:"batch_requests"`
	// Overrides configures POST /v1/override (Agent's forced variations).
	Overrides Overrides `yaml:"overrides"`
	// Notifications serves GET /v1/notifications/event-stream, as
	// Agent's api.enableNotifications does; off by default, as Agent's.
	Notifications Notifications `yaml:"notifications"`
	// ReadTimeout and WriteTimeout bound a request (default 10s each),
	// IdleTimeout a kept-alive connection (2m), ShutdownTimeout the drain
	// on SIGTERM (30s).
	ReadTimeout     Duration `yaml:"read_timeout"`
	WriteTimeout    Duration `yaml:"write_timeout"`
	IdleTimeout     Duration `yaml:"idle_timeout"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// BatchRequests bounds POST /v1/batch; the defaults are Agent's.
type BatchRequests struct {
	// MaxConcurrency is how many operations of one batch run at once;
	// default 10.
	MaxConcurrency int `yaml:"max_concurrency"`
	// OperationsLimit: a batch of more operations is refused (422);
	// default 500.
	OperationsLimit int `yaml:"operations_limit"`
}

// Overrides configures forced variations (POST /v1/override), kept in
// the store so every server of a fleet honours one set on any.
type Overrides struct {
	// Enabled turns them on; default off, as Agent's api.enableOverrides
	// (they are for QA, not for production traffic).
	Enabled bool `yaml:"enabled"`
	// TTL is how long an override lives after it was set; default 1h,
	// 1s…168h.
	TTL Duration `yaml:"ttl"`
}

// Notifications configures the notification stream.
type Notifications struct {
	// Enabled serves the stream; without it the route answers 403, as
	// Agent's does by default.
	Enabled bool `yaml:"enabled"`
	// MaxSubscribers bounds the streams open at once (503 beyond);
	// default 100.
	MaxSubscribers int `yaml:"max_subscribers"`
	// Buffer is how many messages a stream may fall behind before its
	// newer ones are dropped (counted); default 1024.
	Buffer int `yaml:"buffer"`
}

// ServerTLS holds the service's certificate; both or neither.
type ServerTLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// DatafileSource is one datafile the service serves, for one SDK key.
// With neither File nor URL, the datafile is fetched from
// datafile_url_template (Optimizely's CDN by default) and polled like a
// URL.
type DatafileSource struct {
	SDKKey string `yaml:"sdk_key"`
	// File is read at start, on SIGHUP and when it changes.
	File string `yaml:"file"`
	// URL is polled every PollEvery (default 1m, Agent's
	// client.pollingInterval) with If-None-Match and If-Modified-Since.
	URL       string   `yaml:"url"`
	PollEvery Duration `yaml:"poll_every"`
	// AccessToken is sent as "Authorization: Bearer" with every fetch of
	// a URL or SDK key: Optimizely's authenticated datafiles (set
	// datafile_url_template to
	// https://config.optimizely.com/datafiles/auth/%s.json). Agent takes
	// it after a colon in the SDK key; here the key stays the SDK key, so
	// the token is in no log line or metric.
	AccessToken string `yaml:"access_token"`
}

// DefaultDatafileURLTemplate is Optimizely's CDN, where a datafile listed
// by SDK key alone is fetched when datafile_url_template is left out.
const DefaultDatafileURLTemplate = "https://cdn.optimizely.com/datafiles/%s.json"

// DatafileURL returns where d is fetched from: its URL, or for a source
// with neither file nor URL, template with the SDK key in place of its %s;
// "" for a file.
func (d DatafileSource) DatafileURL(template string) string {
	switch {
	case d.File != "":
		return ""
	case d.URL != "":
		return d.URL
	}
	return strings.Replace(template, "%s", d.SDKKey, 1)
}

// DatafileLimits bound what a datafile may hold (decision.Limits); zero
// keeps decision.DefaultLimits, which every real datafile fits.
type DatafileLimits struct {
	MaxBytes              int `yaml:"max_bytes"`
	MaxKeyBytes           int `yaml:"max_key_bytes"`
	MaxIDBytes            int `yaml:"max_id_bytes"`
	MaxConditionDepth     int `yaml:"max_condition_depth"`
	MaxFlagsPerExperiment int `yaml:"max_flags_per_experiment"`
	MaxProblems           int `yaml:"max_problems"`
}

// Log configures the process's logs.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json, text, or auto (the default: text on a terminal,
	// JSON otherwise).
	Format string `yaml:"format"`
}

// Reset re-randomises one experiment (see decision.Reset). In YAML it is
// either a time — "2026-11-01T00:00:00Z" — or a mapping
// {before: <time>, exclude_previous: true}.
type Reset struct {
	Before          time.Time `yaml:"before"`
	ExcludePrevious bool      `yaml:"exclude_previous"`
}

// UnmarshalYAML accepts the scalar and the mapping form.
func (r *Reset) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		t, err := time.Parse(time.RFC3339, n.Value)
		if err != nil {
			// A *yaml.TypeError, so decoding goes on to the file's other problems.
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", n.Line, clipValue(n.Value))}}
		}
		*r = Reset{Before: t}
		return nil
	}
	type plain Reset
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*r = Reset(p)
	return nil
}

// SerialConsistencies are the Paxos consistencies first_writer_wins takes;
// empty means SERIAL.
var SerialConsistencies = []string{"SERIAL", "LOCAL_SERIAL"}

var sdkKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_\-.:]{1,128}$`)

// Defaults of the store's keys.
const (
	defaultBudgetFloor   = 250 * time.Millisecond
	defaultBudgetCeiling = time.Second
	// DefaultMemoryMaxBytes bounds the memory store when
	// store.memory.max_bytes is left out.
	DefaultMemoryMaxBytes = 256 << 20
	// DefaultCacheSize and DefaultCacheTTL are the cache of a Cassandra
	// store when store.cache is left out.
	DefaultCacheSize = 50_000
	DefaultCacheTTL  = 10 * time.Second
)

// SetStoreKind sets store.kind as a command-line flag does, after the file
// and the environment were read, and gives the keys they left out the
// defaults of that kind (see storeKindDefaults): `serve --store cassandra`
// gets Cassandra's cache and async saves as a file saying so would.
func (c *Config) SetStoreKind(kind string) {
	if kind != c.Store.Kind && !c.written("store.cache.size") {
		c.Store.Cache = Cache{}
	}
	c.Store.Kind = kind
	c.storeKindDefaults()
}

// storeKindDefaults sets the defaults that depend on store.kind, for the
// keys the file and the environment left out: with Cassandra, a cache
// (so a lookup that runs past the budget fills it for the user's next
// decision) and async saves (so a decision waits for one read only); and
// the cache's TTL whenever it has a size.
func (c *Config) storeKindDefaults() {
	s := &c.Store
	if !c.written("store.saves.mode") {
		s.Saves.Mode = SavesSync
		if s.Kind == StoreCassandra {
			s.Saves.Mode = SavesAsync
		}
	}
	if s.Kind == StoreCassandra && !c.written("store.cache.size") {
		s.Cache.Size = DefaultCacheSize
	}
	if s.Cache.Size > 0 && !c.written("store.cache.ttl") {
		s.Cache.TTL = Duration(DefaultCacheTTL)
	}
}

const (
	defaultListen      = "127.0.0.1:8080"
	defaultAdminListen = "127.0.0.1:8088"
	// AdminOff as admin_listen serves no admin listener.
	AdminOff = "off"
)

// serviceDefaults sets the defaults of the service's keys; Default calls
// it, so YAML decodes over them and a value written is never replaced.
func (c *Config) serviceDefaults() {
	s := &c.Store
	if s.Kind == "" {
		s.Kind = StoreMemory
	}
	if s.Saves.Mode == "" {
		s.Saves.Mode = SavesSync
	}
	if s.Budget == (Budget{}) {
		s.Budget = Budget{Auto: true}
	}
	if s.BudgetFloor == 0 {
		s.BudgetFloor = Duration(defaultBudgetFloor)
	}
	if s.BudgetCeiling == 0 {
		s.BudgetCeiling = Duration(defaultBudgetCeiling)
	}
	if s.FirstWriterBudget == 0 {
		s.FirstWriterBudget = Duration(2 * time.Second)
	}
	if s.Saves.Queue == 0 {
		s.Saves.Queue = ups.DefaultAsyncQueue
	}
	if s.Saves.Workers == 0 {
		s.Saves.Workers = ups.DefaultAsyncWorkers
	}
	if s.Saves.OnFull == "" {
		s.Saves.OnFull = ups.DefaultAsyncOnFull.String()
	}
	if s.Saves.FullWait == 0 {
		s.Saves.FullWait = Duration(ups.DefaultAsyncFullWait)
	}
	if s.Saves.RetryFor == 0 {
		s.Saves.RetryFor = Duration(ups.DefaultAsyncRetryFor)
	}
	if s.Breaker.Failures == 0 {
		s.Breaker.Failures = 5
	}
	if s.Breaker.OpenFor == 0 {
		s.Breaker.OpenFor = Duration(5 * time.Second)
	}
	if s.Memory.MaxBytes == 0 {
		s.Memory.MaxBytes = DefaultMemoryMaxBytes
	}
	if s.Breaker.UnansweredFor == 0 {
		s.Breaker.UnansweredFor = Duration(2 * time.Second)
	}
	v := &c.Server
	if v.Listen == "" {
		v.Listen = defaultListen
	}
	if v.AdminListen == "" {
		v.AdminListen = defaultAdminListen
	}
	if v.MaxBodyBytes == 0 {
		v.MaxBodyBytes = 1 << 20
	}
	if v.BatchRequests.MaxConcurrency == 0 {
		v.BatchRequests.MaxConcurrency = 10
	}
	if v.BatchRequests.OperationsLimit == 0 {
		v.BatchRequests.OperationsLimit = 500
	}
	v.Auth.defaults()
	v.AdminAuth.defaults()
	if v.Overrides.TTL == 0 {
		v.Overrides.TTL = Duration(time.Hour)
	}
	if v.Notifications.MaxSubscribers == 0 {
		v.Notifications.MaxSubscribers = 100
	}
	if v.Notifications.Buffer == 0 {
		v.Notifications.Buffer = 1024
	}
	for _, d := range []struct {
		p *Duration
		v time.Duration
	}{{&v.ReadTimeout, 10 * time.Second}, {&v.WriteTimeout, 10 * time.Second}, {&v.IdleTimeout, 2 * time.Minute}, {&v.ShutdownTimeout, 30 * time.Second}} {
		if *d.p == 0 {
			*d.p = Duration(d.v)
		}
	}
	c.Events.defaults()
	c.Tracing.defaults()
	c.Webhook.defaults()
	if c.DatafileURLTemplate == "" {
		c.DatafileURLTemplate = DefaultDatafileURLTemplate
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "auto"
	}
}

// UnmarshalYAML decodes a datafile source over its defaults.
func (d *DatafileSource) UnmarshalYAML(n *yaml.Node) error {
	type plain DatafileSource
	p := plain{PollEvery: Duration(time.Minute)}
	if err := n.Decode(&p); err != nil {
		return err
	}
	*d = DatafileSource(p)
	return nil
}

// validateService checks the keys of the service and the admin commands:
// store, server, datafiles, datafile_limits, events, tracing and log.
func (c Config) validateService(p *problems) {
	c.Store.validate(p)
	c.Server.validate(p)
	validateDatafiles(c.Datafiles, c.DatafileURLTemplate, p)
	c.DatafileLimits.validate(p)
	c.Webhook.validate(c.Datafiles, p)
	c.Events.validate(p)
	c.Tracing.validate(p)
	c.Log.validate(p)
}

// inRange adds a problem when d is outside lo…hi.
func (p *problems) inRange(key string, d Duration, lo, hi time.Duration) {
	if d.Std() < lo || d.Std() > hi {
		p.add(key, "%s is outside %s…%s", d.Std(), lo, hi)
	}
}

func (s Store) validate(p *problems) {
	add, inRange := p.add, p.inRange
	switch s.Kind {
	case StoreMemory, StoreCassandra:
	default:
		add("store.kind", "%q is not %s or %s", s.Kind, StoreMemory, StoreCassandra)
	}
	if !s.Budget.Auto {
		inRange("store.budget", s.Budget.Fixed, time.Millisecond, time.Minute)
	}
	inRange("store.budget_floor", s.BudgetFloor, time.Millisecond, time.Minute)
	inRange("store.budget_ceiling", s.BudgetCeiling, time.Millisecond, time.Minute)
	if s.BudgetFloor > s.BudgetCeiling {
		add("store.budget_floor", "%s is above store.budget_ceiling (%s)", s.BudgetFloor.Std(), s.BudgetCeiling.Std())
	}
	inRange("store.first_writer_budget", s.FirstWriterBudget, time.Millisecond, time.Minute)
	if s.Cache.Size < 0 {
		add("store.cache.size", "must not be negative")
	}
	if s.Cache.Size > 0 {
		inRange("store.cache.ttl", s.Cache.TTL, time.Millisecond, 24*time.Hour)
	} else if s.Cache.TTL != 0 {
		add("store.cache.ttl", "set without store.cache.size: the cache is off")
	}
	switch s.Saves.Mode {
	case SavesSync, SavesAsync:
	default:
		add("store.saves.mode", "%q is not %s or %s", s.Saves.Mode, SavesSync, SavesAsync)
	}
	if s.Saves.Queue < 1 {
		add("store.saves.queue", "must be at least 1")
	}
	if s.Saves.Workers < 1 || s.Saves.Workers > 1024 {
		add("store.saves.workers", "%d is outside 1…1024", s.Saves.Workers)
	}
	if _, err := ups.ParseFullPolicy(s.Saves.OnFull); err != nil {
		add("store.saves.on_full", "%v", err)
	}
	inRange("store.saves.full_wait", s.Saves.FullWait, 0, 10*time.Second)
	inRange("store.saves.retry_for", s.Saves.RetryFor, 0, time.Hour)
	if s.Breaker.Failures < 1 {
		add("store.breaker.failures", "must be at least 1")
	}
	inRange("store.breaker.open_for", s.Breaker.OpenFor, 10*time.Millisecond, 10*time.Minute)
	inRange("store.breaker.unanswered_for", s.Breaker.UnansweredFor, 10*time.Millisecond, 10*time.Minute)
	if m := s.Memory.MaxBytes; m < 0 || (m > 0 && m < ups.MinMemoryBytes) {
		add("store.memory.max_bytes", "%d is below the minimum of %d (0: no bound)", m, ups.MinMemoryBytes)
	}
}

func (v Server) validate(p *problems) {
	add, inRange := p.add, p.inRange
	if _, _, err := net.SplitHostPort(v.Listen); err != nil {
		add("server.listen", "%q is not host:port", v.Listen)
	}
	if v.AdminListen != AdminOff {
		if _, _, err := net.SplitHostPort(v.AdminListen); err != nil {
			add("server.admin_listen", "%q is not host:port (or %q)", v.AdminListen, AdminOff)
		}
	}
	for key, toks := range map[string][]string{"server.tokens": v.Tokens, "server.admin_tokens": v.AdminTokens} {
		for i, tok := range toks {
			if hexSum, ok := strings.CutPrefix(tok, "sha256:"); ok {
				if len(hexSum) != 64 {
					add(fmt.Sprintf("%s[%d]", key, i), "sha256: wants 64 hex digits")
				}
			} else if len(tok) < 16 {
				add(fmt.Sprintf("%s[%d]", key, i), "%d bytes; a token needs at least 16", len(tok))
			}
		}
	}
	v.Auth.validate("server.auth", false, p)
	v.AdminAuth.validate("server.admin_auth", true, p)
	if (v.TLS.CertFile == "") != (v.TLS.KeyFile == "") {
		add("server.tls", "cert_file and key_file must be set together")
	}
	if v.MaxBodyBytes < 1024 || v.MaxBodyBytes > 64<<20 {
		add("server.max_body_bytes", "%d is outside 1024…%d", v.MaxBodyBytes, 64<<20)
	}
	if c := v.BatchRequests.MaxConcurrency; c < 1 || c > 1000 {
		add("server.batch_requests.max_concurrency", "%d is outside 1…1000", c)
	}
	if n := v.BatchRequests.OperationsLimit; n < 1 || n > 100_000 {
		add("server.batch_requests.operations_limit", "%d is outside 1…100000", n)
	}
	inRange("server.overrides.ttl", v.Overrides.TTL, time.Second, 168*time.Hour)
	if n := v.Notifications.MaxSubscribers; n < 1 || n > 100_000 {
		add("server.notifications.max_subscribers", "%d is outside 1…100000", n)
	}
	if n := v.Notifications.Buffer; n < 1 || n > 1_000_000 {
		add("server.notifications.buffer", "%d is outside 1…1000000", n)
	}
	inRange("server.read_timeout", v.ReadTimeout, 100*time.Millisecond, 10*time.Minute)
	inRange("server.write_timeout", v.WriteTimeout, 100*time.Millisecond, 10*time.Minute)
	inRange("server.idle_timeout", v.IdleTimeout, time.Second, time.Hour)
	inRange("server.shutdown_timeout", v.ShutdownTimeout, time.Second, 10*time.Minute)
}

func validateDatafiles(sources []DatafileSource, template string, p *problems) {
	if strings.Count(template, "%s") != 1 || strings.Count(template, "%") != 1 {
		p.add("datafile_url_template", "%q must hold one %%s, where the SDK key goes, and no other %%", clipValue(template))
	} else if !isHTTPURL(strings.Replace(template, "%s", "SDK_KEY", 1)) {
		p.add("datafile_url_template", "%q is not an http(s) URL", clipValue(template))
	}
	keys := map[string]bool{}
	for i, d := range sources {
		key := fmt.Sprintf("datafiles[%d]", i)
		if !sdkKeyPattern.MatchString(d.SDKKey) {
			p.add(key+".sdk_key", "%q is not an SDK key (1–128 letters, digits, _ - . :)", d.SDKKey)
		} else if keys[d.SDKKey] {
			p.add(key+".sdk_key", "%q is listed twice", d.SDKKey)
		}
		keys[d.SDKKey] = true
		switch {
		case d.File != "" && d.URL != "":
			p.add(key, "set at most one of file and url (neither: fetched by SDK key from datafile_url_template)")
		case d.File != "" && d.AccessToken != "":
			p.add(key+".access_token", "set for a file: only a URL or an SDK key is fetched with a token")
		case d.File == "":
			if d.URL != "" && !isHTTPURL(d.URL) {
				p.add(key+".url", "%q is not an http(s) URL", d.URL)
			}
			p.inRange(key+".poll_every", d.PollEvery, time.Second, 24*time.Hour)
		}
	}
}

// isHTTPURL reports whether s is an absolute http or https URL.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (l DatafileLimits) validate(p *problems) {
	for key, v := range map[string]int{
		"datafile_limits.max_bytes": l.MaxBytes, "datafile_limits.max_key_bytes": l.MaxKeyBytes,
		"datafile_limits.max_id_bytes": l.MaxIDBytes, "datafile_limits.max_condition_depth": l.MaxConditionDepth,
		"datafile_limits.max_flags_per_experiment": l.MaxFlagsPerExperiment, "datafile_limits.max_problems": l.MaxProblems,
	} {
		if v < 0 {
			p.add(key, "must not be negative (0 keeps the default)")
		}
	}
	if m := l.MaxBytes; m > 1<<30 {
		p.add("datafile_limits.max_bytes", "%d is over 1 GiB", m)
	}
}

func (l Log) validate(p *problems) {
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "%q is not debug, info, warn or error", l.Level)
	}
	switch l.Format {
	case "auto", "json", "text":
	default:
		p.add("log.format", "%q is not auto, json or text", l.Format)
	}
}

// validatePolicies checks an environment's stickiness policies.
func (e Environment) validatePolicies(p *problems, prefix string) {
	add := func(key, format string, args ...any) { p.add(prefix+"."+key, format, args...) }
	if r := e.RefreshAfter.Std(); r != 0 {
		switch {
		case r < 0:
			add("refresh_after", "must not be negative")
		case e.Retention == 0:
			add("refresh_after", "needs a retention: assignments kept forever need no refresh")
		case r >= e.Retention.Std():
			add("refresh_after", "%s must be shorter than retention (%s), or every decision rewrites its assignment", r, e.Retention.Std())
		}
		for _, id := range sortedKeys(e.RetentionOverrides) {
			if d := e.RetentionOverrides[id].Std(); d != 0 && r >= d {
				add("refresh_after", "%s must be shorter than retention_overrides[%q] (%s)", r, id, d)
			}
		}
	}
	for _, id := range sortedKeys(e.Reset) {
		if id == "" {
			add("reset", "experiment ID is empty")
		} else if e.Reset[id].Before.IsZero() {
			add(fmt.Sprintf("reset[%q]", id), "needs a time (before)")
		}
	}
	if e.SerialConsistency != "" && !slices.Contains(SerialConsistencies, e.SerialConsistency) {
		add("serial_consistency", "%q is not one of %s", e.SerialConsistency, strings.Join(SerialConsistencies, ", "))
	}
}
