package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	// Environment selects which entry of Environments is in force.
	Environment  string                 `yaml:"environment"`
	Cassandra    Connection             `yaml:"cassandra"`
	Environments map[string]Environment `yaml:"environments"`
	// Store, Server, Datafiles and Log configure the service
	// (`stickybucket serve`) and the admin commands.
	Store     Store            `yaml:"store"`
	Server    Server           `yaml:"server"`
	Datafiles []DatafileSource `yaml:"datafiles"`
	// DatafileURLTemplate is where a datafile listed by SDK key alone is
	// fetched: its %s is replaced by the SDK key (Agent's
	// client.datafileURLTemplate). Default
	// https://cdn.optimizely.com/datafiles/%s.json.
	DatafileURLTemplate string `yaml:"datafile_url_template"`
	// Webhook is the listener for Optimizely's datafile webhooks.
	Webhook Webhook `yaml:"webhook"`
	// DatafileLimits bound the datafiles the service accepts.
	DatafileLimits DatafileLimits `yaml:"datafile_limits"`
	// Events are the impressions and conversions the service sends.
	Events Events `yaml:"events"`
	// Tracing is the OpenTelemetry spans the service sends; off by default.
	Tracing Tracing `yaml:"tracing"`
	Log     Log     `yaml:"log"`

	// sources maps keys set by environment variables to the variable, so
	// validation errors can say where a bad value came from.
	sources map[string]string
	// keys holds the paths of the keys the YAML file wrote.
	keys map[string]bool
	// defaultEnv is set when Environments holds only the default
	// environment, put there by an environment variable for the file
	// defined none (see Active).
	defaultEnv bool
}

// written reports whether the file or an environment variable set key (a
// dotted path such as store.cache.size), so a default that depends on
// another key applies only to keys left out.
func (c *Config) written(key string) bool {
	_, byEnv := c.sources[key]
	return c.keys[key] || byEnv
}

// Connection says how to reach the Cassandra cluster. It is shared by all
// environments because a process talks to one cluster; what differs per
// environment is how data is kept there.
type Connection struct {
	Hosts          []string `yaml:"hosts"`
	Port           int      `yaml:"port"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	Timeout        Duration `yaml:"timeout"`
	Username       string   `yaml:"username"`
	Password       string   `yaml:"password"`
	TLS            TLS      `yaml:"tls"`
	// LogLevel is the level gocql's messages (connections failing and
	// coming back) are logged at: debug, info, warn (default) or error.
	LogLevel string `yaml:"log_level"`
	// SpeculativeAfter sends a statement that has had no answer for this
	// long to the next replica as well (gocql's speculative execution;
	// every statement the store sends is idempotent), so a frozen or
	// overloaded coordinator costs this delay rather than the timeout.
	// Default 100ms; 0 turns it off.
	SpeculativeAfter Duration `yaml:"speculative_after"`
}

// TLS holds client TLS files. Leave all empty for plaintext.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Environment is how one environment keeps its assignments.
type Environment struct {
	// Retention is how long an assignment stays sticky; 0 keeps it forever.
	Retention Duration `yaml:"retention"`
	// RetentionOverrides sets the retention of single experiments, keyed by
	// experiment ID.
	RetentionOverrides map[string]Duration `yaml:"retention_overrides"`
	Keyspace           string              `yaml:"keyspace"`
	Replication        Replication         `yaml:"replication"`
	ReadConsistency    string              `yaml:"read_consistency"`
	WriteConsistency   string              `yaml:"write_consistency"`
	// LocalDC is the datacenter this process prefers for coordinators and
	// that LOCAL_* consistency levels refer to.
	LocalDC string `yaml:"local_dc"`
	// RemoteDCFallback lets a LOCAL_* query go to coordinators in other
	// datacenters when none in LocalDC answers. Off by default: there,
	// LOCAL_QUORUM means the other datacenter's quorum, so a read can
	// miss what this region just wrote, and the outage is hidden.
	RemoteDCFallback bool `yaml:"remote_dc_fallback"`
	// RefreshAfter makes stickiness slide: a served assignment that expires
	// within it is saved again (decision.Options.RefreshAfter).
	RefreshAfter Duration `yaml:"refresh_after"`
	// Reset re-randomises experiments, keyed by experiment ID.
	Reset map[string]Reset `yaml:"reset"`
	// FirstWriterWins writes every assignment with a lightweight
	// transaction — a first one only if none exists, a replacement or a
	// refresh only if the stored one is still the one read — at
	// SerialConsistency (SERIAL, the default, agrees across datacenters;
	// LOCAL_SERIAL within one).
	FirstWriterWins   bool   `yaml:"first_writer_wins"`
	SerialConsistency string `yaml:"serial_consistency"`
}

// defaultEnvironment is what an environment in the YAML starts from: keys
// left out of it keep these values.
func defaultEnvironment() Environment {
	return Environment{
		Keyspace:          defaultKeyspace,
		ReadConsistency:   defaultConsistency,
		WriteConsistency:  defaultConsistency,
		SerialConsistency: "SERIAL",
	}
}

// UnmarshalYAML decodes an environment over defaultEnvironment, so a key
// left out gets its default while a key written keeps what was written
// (an empty keyspace is then an error, not the default).
func (e *Environment) UnmarshalYAML(n *yaml.Node) error {
	type plain Environment // without this method
	p := plain(defaultEnvironment())
	if err := n.Decode(&p); err != nil {
		return err
	}
	*e = Environment(p)
	return nil
}

// Replication is the keyspace replication.
type Replication struct {
	// Class is SimpleStrategy or NetworkTopologyStrategy.
	Class string `yaml:"class"`
	// ReplicationFactor is used by SimpleStrategy.
	ReplicationFactor int `yaml:"replication_factor"`
	// Datacenters maps DC name to replication factor for
	// NetworkTopologyStrategy.
	Datacenters map[string]int `yaml:"datacenters"`
}

// MaxSize bounds a configuration file, so a wrong path (a log, a device)
// cannot make Load read without end.
const MaxSize = 1 << 20

// Load reads a YAML file, applies environment variable overrides from
// lookupEnv (os.LookupEnv in production) and validates the result.
func Load(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return Config{}, fmt.Errorf("config: read %s: %w", path, err)
	}
	cfg, err := Parse(data, lookupEnv)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load for bytes already in memory.
//
// The YAML must be exactly one document. Every key must be known, and no
// value may be null: a key left out gets its default, a key written must
// hold a valid value (`port: 0`, `timeout: 0s` and `retention: ~` are
// errors, not defaults). Environment variables that are set but empty
// count as unset. Every error names the key at fault (and its line, or the
// variable that set it); syntax errors name the key they are near.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	if len(data) > MaxSize {
		return Config{}, fmt.Errorf("more than %d bytes; a configuration is far smaller", MaxSize)
	}
	cfg := Default()
	errs, failed, err := cfg.decode(data)
	if err != nil {
		return Config{}, err
	}
	if lookupEnv != nil {
		envErrs, envFailed := cfg.applyEnv(lookupEnv)
		errs = append(errs, envErrs...)
		failed = append(failed, envFailed...)
	}
	cfg.storeKindDefaults()
	cfg.Tracing.endpointDefault()
	cfg.normalize()
	// Validation runs even when values were refused, so one run reports
	// every problem of the file; a refused value kept its default, and the
	// checks of its key (and of the keys it is checked against) are left
	// out rather than reported about a value nobody wrote.
	p := &problems{sources: cfg.sources}
	cfg.validate(p)
	errs = append(errs, p.except(failed)...)
	if len(errs) > 0 {
		return Config{}, joinProblems(errs)
	}
	return cfg, nil
}

// decode reads the one YAML document in data over c's defaults. It
// returns the problems of the values it refused (and left at their
// defaults) and their keys, or err when the document cannot be read at
// all.
func (c *Config) decode(data []byte) (refused []error, failed []string, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil // empty: defaults only
		}
		return nil, nil, syntaxError(data, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, nil, fmt.Errorf("line %d: a second YAML document; the configuration is one document", extra.Line)
	case !errors.Is(err, io.EOF):
		return nil, nil, syntaxError(data, err)
	}
	if len(doc.Content) == 1 && isNull(doc.Content[0]) {
		return nil, nil, nil // a document holding only null: defaults only
	}
	tr := checkTree(&doc, reflect.TypeFor[Config]())
	if tr.tooBig {
		return nil, nil, joinProblems(tr.errs)
	}
	c.keys = tr.keys
	if !tr.ok {
		return tr.errs, append(tr.failed, ""), nil // not a mapping: nothing to decode
	}
	errs := tr.errs
	// The tree removed every value it refused; what decoding may still
	// refuse comes through aliases.
	if err := doc.Decode(c); err != nil {
		errs = append(errs, tr.explain(err)...)
	}
	return errs, tr.failed, nil
}

// maxMessage bounds a message from the YAML library.
const maxMessage = 256

var (
	// typeErrorLine matches one message of a *yaml.TypeError.
	typeErrorLine = regexp.MustCompile(`(?s)^line (\d+): (.*)$`)
	// syntaxErrorLine matches yaml.v3's syntax errors.
	syntaxErrorLine = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)
)

// explain rewrites decoding errors, which carry a line, to name the key
// on that line, in the words of YAML.
func (tr *tree) explain(err error) []error {
	te, ok := errors.AsType[*yaml.TypeError](err)
	if !ok {
		return []error{errors.New(plainWords(clipTo(strings.ToValidUTF8(err.Error(), ""), maxMessage)))}
	}
	var errs []error
	for _, msg := range te.Errors {
		// yaml.v3 cuts long values at a byte count, which can split a
		// character, and repeats tags whole.
		msg = plainWords(clipTo(strings.ToValidUTF8(msg, ""), maxMessage))
		m := typeErrorLine.FindStringSubmatch(msg)
		if m == nil {
			errs = append(errs, errors.New(msg))
			continue
		}
		line, _ := strconv.Atoi(m[1])
		if path, ok := tr.pathAt(line); ok {
			errs = append(errs, fmt.Errorf("%s (line %d): %s", keyName(path), line, m[2]))
		} else {
			errs = append(errs, fmt.Errorf("line %d: %s", line, m[2]))
		}
	}
	return errs
}

// unmarshalMessage matches yaml.v3's type mismatch, which names a YAML
// tag and a Go type.
var unmarshalMessage = regexp.MustCompile("cannot unmarshal !!(\\w+)(?: `([^`]*)`)? into \\S+")

// plainWords rewrites yaml.v3's type mismatches ("cannot unmarshal !!seq
// into config.plain") in the words of YAML, without the Go type.
func plainWords(msg string) string {
	return unmarshalMessage.ReplaceAllStringFunc(msg, func(m string) string {
		sub := unmarshalMessage.FindStringSubmatch(m)
		what := map[string]string{"seq": "a list", "map": "a mapping", "str": "the text", "int": "the number", "float": "the number",
			"bool": "the value", "timestamp": "the time", "null": "null", "binary": "binary data"}[sub[1]]
		if what == "" {
			what = "a value"
		}
		if sub[2] != "" {
			what += " " + strconv.Quote(sub[2])
		}
		return what + " does not fit here"
	})
}

// parserProblems are the syntax errors yaml.v3 (v3.0.4) reports from its
// parser rather than its scanner. For them the line is that of the
// construct being parsed (the mapping or sequence holding the error), and
// zero-based; scanner errors give the line of the problem itself, one-based.
var parserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// syntaxError names the key a YAML syntax error is at or in. The document
// did not parse, so there is no tree: the key path is read off the lines
// up to the error's, by their indentation.
func syntaxError(data []byte, err error) error {
	msg := clipTo(strings.ToValidUTF8(strings.TrimPrefix(err.Error(), "yaml: "), ""), maxMessage)
	line, problem := 1, msg // yaml.v3 leaves the line out when it is the first
	if m := syntaxErrorLine.FindStringSubmatch("yaml: " + msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		problem = m[2]
		if slices.Contains(parserProblems, problem) {
			line++
		}
	} else if !strings.HasPrefix(err.Error(), "yaml: ") {
		return fmt.Errorf("invalid YAML: %v", err)
	}
	if l := lineText(data, line); strings.HasPrefix(strings.TrimLeft(l, " "), "\t") {
		problem += " (YAML is indented with spaces, never tabs)"
	}
	where := fmt.Sprintf("line %d", line)
	if slices.Contains(parserProblems, problem) {
		// The line is where the mapping or sequence holding the problem
		// starts, or where the parser gave up: near, not at.
		where = "near " + where
	}
	if path := keyNear(data, line); path != "" {
		where += " (" + path + ")"
	}
	return fmt.Errorf("%s: invalid YAML: %s", where, problem)
}

// lineText returns line n (one-based) of data, without its line ending.
func lineText(data []byte, n int) string {
	for i, l := range strings.Split(string(data), "\n") {
		if i == n-1 {
			return strings.TrimRight(l, "\r")
		}
	}
	return ""
}

// blockKey matches a block mapping key at the start of a line.
var blockKey = regexp.MustCompile(`^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s"'#{}\[\],&*!|>%@` + "`" + `][^:#]*?)\s*:(?:\s|$)`)

// keyNear returns the path of the last block mapping key at or before
// line, from indentation alone; "" if there is none.
func keyNear(data []byte, line int) string {
	type frame struct {
		indent int
		key    string
	}
	var stack []frame
	for i, l := range strings.Split(string(data), "\n") {
		if i >= line {
			break
		}
		l = strings.TrimRight(l, "\r")
		rest := strings.TrimLeft(l, " ")
		indent := len(l) - len(rest)
		for strings.HasPrefix(rest, "- ") { // a list item's mapping
			trimmed := strings.TrimLeft(rest[2:], " ")
			indent += len(rest) - len(trimmed)
			rest = trimmed
		}
		m := blockKey.FindStringSubmatch(rest)
		if m == nil {
			continue
		}
		key := m[1]
		if uq, err := strconv.Unquote(key); err == nil && key[0] == '"' {
			key = uq
		} else if key[0] == '\'' {
			key = strings.ReplaceAll(key[1:len(key)-1], "''", "'")
		}
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		stack = append(stack, frame{indent, clipValue(key)})
	}
	keys := make([]string, len(stack))
	for i, f := range stack {
		keys[i] = f.key
	}
	return strings.Join(keys, ".")
}

// Default is a single development environment on a local node, suited to
// running the integration tests or a laptop.
func Default() Config {
	c := Config{
		Environment: DefaultEnvironment,
		Cassandra: Connection{
			Hosts:            []string{"127.0.0.1"},
			Port:             9042,
			ConnectTimeout:   Duration(defaultConnectTimeout),
			Timeout:          Duration(defaultTimeout),
			LogLevel:         "warn",
			SpeculativeAfter: Duration(defaultSpeculativeAfter),
		},
	}
	c.serviceDefaults()
	return c
}

// DefaultEnvironment is the environment in force when the configuration
// names none. A configuration without environments (enough for the
// in-memory store) has this one, with the defaults of every key: no
// retention, no refresh, no resets.
const DefaultEnvironment = "development"

// Active returns the selected environment: one of Environments, or, when
// there are none, DefaultEnvironment with its defaults.
func (c Config) Active() (Environment, error) {
	if env, ok := c.Environments[c.Environment]; ok {
		return env, nil
	}
	if len(c.Environments) == 0 && c.Environment == DefaultEnvironment {
		return defaultEnvironment(), nil
	}
	return Environment{}, fmt.Errorf("environment: %q is not defined under environments", clipValue(c.Environment))
}

// onlyDefaultEnvironment reports whether the configuration defines no
// environment of its own: none at all, or only the default one that an
// environment variable (STICKYBUCKET_RETENTION, say) filled in without a
// replication.
func (c Config) onlyDefaultEnvironment() bool {
	if len(c.Environments) == 0 {
		return true
	}
	env, ok := c.Environments[DefaultEnvironment]
	return c.defaultEnv && ok && len(c.Environments) == 1 && env.Replication.Class == ""
}
