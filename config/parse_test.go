package config

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// base is a valid configuration that the cases below change one thing in.
const base = `
environment: development
cassandra:
  hosts: [127.0.0.1]
environments:
  development:
    retention: 1d
    replication: {class: SimpleStrategy, replication_factor: 1}
`

// TestParseRejectsSilentValues: every value written is either used or an
// error naming its key; nothing written silently becomes a default.
func TestParseRejectsSilentValues(t *testing.T) {
	tests := []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"second document", base + "---\nenvironment: production\n", nil,
			"line 9: a second YAML document; the configuration is one document"},
		{"second document after an empty one", "---\n" + base + "---\n---\n", nil, "a second YAML document"},
		{"null retention", strings.Replace(base, "retention: 1d", "retention: ~", 1), nil,
			"environments.development.retention (line 7): null is not a value"},
		{"empty retention", strings.Replace(base, "retention: 1d", "retention:", 1), nil,
			"environments.development.retention (line 7): null is not a value"},
		{"null port", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  port: null", 1), nil, "cassandra.port (line 5): null is not a value"},
		{"null in environments", base + "  port: null\n", nil, "environments.port (line 9): null is not a value"},
		{"null host", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1, ~]", 1), nil, "cassandra.hosts[1] (line 4): null is not a value"},
		{"null environment", base + "  staging:\n", nil, "environments.staging (line 9): null is not a value"},
		{"null section", base + "cassandra:\n", nil, "cassandra (line 9): null is not a value"},
		{"null override", strings.Replace(base, "retention: 1d", "retention: 1d\n    retention_overrides: {\"1\": ~}", 1), nil,
			`environments.development.retention_overrides["1"] (line 8): null is not a value`},
		{"null override key", strings.Replace(base, "retention: 1d", "retention: 1d\n    retention_overrides: {~: 2d}", 1), nil,
			"environments.development.retention_overrides (line 8): a null key"},
		{"null dc key", strings.Replace(base, "{class: SimpleStrategy, replication_factor: 1}", "{class: NetworkTopologyStrategy, datacenters: {null: 3}}", 1), nil,
			"environments.development.replication.datacenters (line 8): a null key"},
		{"port 0", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  port: 0", 1), nil, "cassandra.port: 0 is not a TCP port"},
		{"timeout 0s", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  timeout: 0s", 1), nil, "cassandra.timeout: 0s is outside 1ms to 10m0s"},
		{"timeout 0", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  timeout: 0", 1), nil, "cassandra.timeout: 0s is outside"},
		{"timeout 1ns", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  timeout: 1ns", 1), nil, "cassandra.timeout: 1ns is outside"},
		{"timeout 10000h", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  timeout: 10000h", 1), nil, "cassandra.timeout: 10000h0m0s is outside"},
		{"negative timeout", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  timeout: -1s", 1), nil, "cassandra.timeout: -1s is outside"},
		{"connect timeout 11m", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  connect_timeout: 11m", 1), nil, "cassandra.connect_timeout: 11m0s is outside"},
		{"empty keyspace", strings.Replace(base, "retention: 1d", "retention: 1d\n    keyspace: \"\"", 1), nil, `environments.development.keyspace: "" is not a valid keyspace name`},
		{"empty consistency", strings.Replace(base, "retention: 1d", "retention: 1d\n    read_consistency: ''", 1), nil, `environments.development.read_consistency: "" is not one of`},
		{"empty environment name", strings.Replace(base, "  development:", "  \"\":", 1), map[string]string{"STICKYBUCKET_ENVIRONMENT": ""}, "environments: an environment name is empty"},
		{"env port 0", base, map[string]string{"STICKYBUCKET_CASSANDRA_PORT": "0"}, "cassandra.port: 0 is not a TCP port (1-65535) (set by STICKYBUCKET_CASSANDRA_PORT)"},
		{"env keyspace", base, map[string]string{"STICKYBUCKET_KEYSPACE": "a-b"}, `environments.development.keyspace: "a-b" is not a valid keyspace name (a letter, then up to 47 letters, digits or underscores) (set by STICKYBUCKET_KEYSPACE)`},
		{"too big", base + "#" + strings.Repeat("x", MaxSize), nil, "more than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), envMap(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

// TestParseErrorsNameTheKey: syntax and type errors from the YAML library
// carry only a line; the error must name the key too.
func TestParseErrorsNameTheKey(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unclosed flow mapping", strings.Replace(base, "replication_factor: 1}", "replication_factor: 1", 1) + "\n",
			"near line 8 (environments.development.replication): invalid YAML: did not find expected ',' or '}'"},
		{"bad indentation", base + "  staging:\n    retention: 1d\n   keyspace: x\n", "near line 6 (environments.development): invalid YAML: did not find expected key"},
		{"mapping in a scalar", base + "  staging:\n    retention: a: b\n", "line 10 (environments.staging.retention): invalid YAML: mapping values are not allowed in this context"},
		{"bad escape", base + "  staging:\n    keyspace: \"\\q\"\n", "line 10 (environments.staging.keyspace): invalid YAML: found unknown escape character"},
		{"tab", strings.Replace(base, "    retention: 1d", "\tretention: 1d", 1), "line 7 (environments.development): invalid YAML: found character that cannot start any token (YAML is indented with spaces, never tabs)"},
		{"tab on line 1", "\tenvironments: {}\n", "line 1: invalid YAML: found character that cannot start any token (YAML is indented with spaces, never tabs)"},
		{"null and type errors at once", strings.Replace(strings.Replace(base, "retention: 1d", "retention: ~", 1), "replication_factor: 1", "replication_factor: x", 1),
			"environments.development.retention (line 7): null is not a value; leave the key out to get its default\nenvironments.development.replication.replication_factor (line 8): expected a whole number, got the text \"x\""},
		{"port not a number", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  port: abc", 1), `cassandra.port (line 5): expected a whole number, got the text "abc"`},
		{"rf not a number", strings.Replace(base, "replication_factor: 1", "replication_factor: three", 1),
			`environments.development.replication.replication_factor (line 8): expected a whole number, got the text "three"`},
		{"rf not a number, block style", strings.Replace(base, "replication: {class: SimpleStrategy, replication_factor: 1}", "replication:\n      class: SimpleStrategy\n      replication_factor: [3]", 1),
			"environments.development.replication.replication_factor (line 10): expected a whole number, got a list"},
		{"bad duration", strings.Replace(base, "retention: 1d", "retention: forever", 1), `environments.development.retention (line 7): invalid duration "forever"`},
		{"long bad duration", strings.Replace(base, "retention: 1d", "retention: "+strings.Repeat("9", 5000), 1), `invalid duration "999999999999999`},
		{"hosts not a list", strings.Replace(base, "[127.0.0.1]", "{a: b}", 1), "cassandra.hosts (line 4): expected a list (items on lines starting with \"- \", or [a, b]), got a mapping"},
		{"duplicate key", base + "environment: staging\n", `environment (line 9): mapping key "environment" already defined at line 2`},
		{"unknown nested key", strings.Replace(base, "[127.0.0.1]", "[127.0.0.1]\n  tls: {enabled: true, ca: x}", 1), "cassandra.tls.ca (line 5): unknown key; the keys here are ca_file, cert_file, enabled, insecure_skip_verify, key_file"},
		{"not a mapping", "just a string\n", `(top level) (line 1): expected a mapping (key: value lines indented under the key, or {key: value}), got the text "just a string"`},
		{"several errors at once", strings.Replace(strings.Replace(base, "retention: 1d", "retention: x", 1), "[127.0.0.1]", "[127.0.0.1]\n  port: y", 1),
			"cassandra.port (line 5): expected a whole number, got the text \"y\"\nenvironments.development.retention (line 8): invalid duration \"x\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), noEnv)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v\nwant an error containing %q", err, tt.want)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("error of %d bytes; values must be cut", len(err.Error()))
			}
		})
	}
}

func TestParseEmptyEnvironmentVariablesAreUnset(t *testing.T) {
	cfg, err := Parse([]byte(base), envMap(map[string]string{
		"STICKYBUCKET_CASSANDRA_TLS_CA_FILE": "",
		"STICKYBUCKET_CASSANDRA_PORT":        "  ",
		"STICKYBUCKET_RETENTION":             "",
		"STICKYBUCKET_ENVIRONMENT":           "",
		"STICKYBUCKET_CASSANDRA_HOSTS":       "",
	}))
	if err != nil {
		t.Fatal(err)
	}
	env, _ := cfg.Active()
	if cfg.Cassandra.TLS.Enabled || cfg.Cassandra.Port != 9042 || env.Retention.Std() != 24*time.Hour ||
		cfg.Environment != "development" || cfg.Cassandra.Hosts[0] != "127.0.0.1" {
		t.Errorf("empty variables changed the configuration: %+v, %+v", cfg.Cassandra, env)
	}
}

// TestParseDefaultsOnlyForKeysLeftOut: keys left out get defaults, in
// every environment, and YAML anchors and merge keys still work.
func TestParseDefaultsOnlyForKeysLeftOut(t *testing.T) {
	cfg, err := Parse([]byte(`
environment: production
environments:
  development: &dev
    retention: 1d
    replication: {class: SimpleStrategy, replication_factor: 1}
  production:
    <<: *dev
    retention: 90d
    keyspace: prod
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Environment{
		"development": {Retention: Duration(24 * time.Hour), Keyspace: "stickybucket", ReadConsistency: "LOCAL_QUORUM", WriteConsistency: "LOCAL_QUORUM"},
		"production":  {Retention: Duration(90 * 24 * time.Hour), Keyspace: "prod", ReadConsistency: "LOCAL_QUORUM", WriteConsistency: "LOCAL_QUORUM"},
	} {
		got := cfg.Environments[name]
		if got.Retention != want.Retention || got.Keyspace != want.Keyspace || got.ReadConsistency != want.ReadConsistency ||
			got.WriteConsistency != want.WriteConsistency || got.Replication.ReplicationFactor != 1 {
			t.Errorf("%s = %+v, want %+v with the replication of development", name, got, want)
		}
	}
	if cfg.Cassandra.Port != 9042 || cfg.Cassandra.Timeout.Std() != 2*time.Second || cfg.Cassandra.ConnectTimeout.Std() != 5*time.Second {
		t.Errorf("connection defaults: %+v", cfg.Cassandra)
	}
}

// TestParseAliasBomb: nested aliases that would expand to billions of
// nodes are refused before decoding.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d, *a%[3]d]\n", i, i, i-1)
	}
	_, err := Parse([]byte(b.String()), noEnv)
	if err == nil || !strings.Contains(err.Error(), "expands to more than") {
		t.Fatalf("Parse(alias bomb) = %v", err)
	}
}

func TestCommonPath(t *testing.T) {
	for _, tt := range []struct{ a, b, want string }{
		{"x.replication", "x.replication.class", "x.replication"},
		{"x.replication.class", "x.replication.replication_factor", "x.replication"},
		{"a.retention_overrides[\"1.2\"]", "a.retention_overrides[\"1.3\"]", "a.retention_overrides"},
		{"cassandra", "environments", ""},
		{"a.b", "a.b", "a.b"},
		{"a.bc", "a.b", "a"},
	} {
		if got := commonPath(tt.a, tt.b); got != tt.want {
			t.Errorf("commonPath(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestParseErrorsAreBounded: a file of thousands of problems lists the
// first maxProblems, and long keys are cut.
func TestParseErrorsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(base)
	for i := range 5000 {
		fmt.Fprintf(&b, "  env%d%s:\n    keyspaces: %d\n", i, strings.Repeat("x", 100), i)
	}
	b.WriteString(strings.Repeat("y", 1000) + ": 1\n")
	_, err := Parse([]byte(b.String()), noEnv)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxProblems+1 || !strings.Contains(lines[maxProblems], "… and ") {
		t.Errorf("%d lines, want %d and a count of the rest; last: %q", len(lines), maxProblems+1, lines[len(lines)-1])
	}
	for _, l := range lines {
		if len(l) > 512 {
			t.Errorf("a line of %d bytes: %.100s…", len(l), l)
		}
	}
}

// TestParseReportsEveryProblemAtOnce: unknown keys, values of the wrong
// kind, values their type refuses, invalid values and bad environment
// variables, all in one run, in the file's order and then the
// variables'; a refused value is not reported again by validation.
func TestParseReportsEveryProblemAtOnce(t *testing.T) {
	yaml := `
cassandra:
  port: abc
  prot: 9042
  timeout: 0s
environments:
  development:
    retention: forever
    replication: {class: SimpleStrategy, replication_factor: three}
store: {budget: soon, kind: redis, cache: {size: x, ttl: 10s}}
log: {level: loud}
`
	_, err := Parse([]byte(yaml), envMap(map[string]string{
		"STICKYBUCKET_CASSANDRA_PORT":        "ninety",
		"STICKYBUCKET_FIRST_WRITER_WINS":     "maybe",
		"STICKYBUCKET_CACHE_SIZE":            "many",
		"STICKYBUCKET_LOG_LEVEL":             "debug",
		"STICKYBUCKET_CASSANDRA_USERNAME":    "",
		"STICKYBUCKET_CASSANDRA_HOSTS":       "127.0.0.2",
		"STICKYBUCKET_READ_CONSISTENCY":      "MOST",
		"STICKYBUCKET_DATAFILES":             "k=",
		"STICKYBUCKET_UNKNOWN_IS_IGNORED":    "x",
		"STICKYBUCKET_REFRESH_AFTER":         "soon",
		"STICKYBUCKET_API_TOKENS":            "short",
		"STICKYBUCKET_TLS_CERT_FILE":         "c.pem",
		"STICKYBUCKET_CASSANDRA_TLS_CA_FILE": "",
	}))
	want := []string{
		`cassandra.port (line 3): expected a whole number, got the text "abc"`,
		"cassandra.prot (line 4): unknown key",
		`environments.development.retention (line 8): invalid duration "forever"`,
		`environments.development.replication.replication_factor (line 9): expected a whole number, got the text "three"`,
		`store.budget (line 10): invalid duration "soon"`,
		`store.cache.size (line 10): expected a whole number, got the text "x"`,
		`STICKYBUCKET_CASSANDRA_PORT (overrides cassandra.port): not a port number: "ninety"`,
		`STICKYBUCKET_REFRESH_AFTER (overrides environments.<active>.refresh_after): invalid duration "soon"`,
		`STICKYBUCKET_FIRST_WRITER_WINS (overrides environments.<active>.first_writer_wins): not a boolean: "maybe"`,
		`STICKYBUCKET_CACHE_SIZE (overrides store.cache.size): not a number: "many"`,
		"STICKYBUCKET_DATAFILES (overrides datafiles): datafile \"k=\": no file or URL",
		"cassandra.timeout: 0s is outside",
		`environments.development.read_consistency: "MOST" is not one of ONE, TWO, THREE, QUORUM, ALL, LOCAL_QUORUM, LOCAL_ONE (set by STICKYBUCKET_READ_CONSISTENCY)`,
		`store.kind: "redis" is not memory or cassandra`,
		"server.tokens[0]: 5 bytes; a token needs at least 16 (set by STICKYBUCKET_API_TOKENS)",
		"server.tls: cert_file and key_file must be set together",
	}
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	got := strings.Split(err.Error(), "\n")
	for i, w := range want {
		if i >= len(got) || !strings.HasPrefix(got[i], w) {
			t.Errorf("problem %d: want %q\ngot:\n%s", i+1, w, err)
			break
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), err)
	}
}

// TestParseLeavesOutOnlyWhatARefusedValueExplains: validation's problems
// about a refused key, its parents and children, or naming it, are left
// out; a key whose name merely starts the same is not one of them.
func TestParseLeavesOutOnlyWhatARefusedValueExplains(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want []string
	}{
		{"environment: [x]\nenvironments: {development: {read_consistency: MOST}}\n",
			[]string{"environment (line 1): expected text, got a list", `environments.development.read_consistency: "MOST" is not one of`}},
		{"store: {cache: {size: many, ttl: 10s}}\n", // not "ttl set without store.cache.size"
			[]string{`store.cache.size (line 1): expected a whole number, got the text "many"`}},
		{"datafiles: [{sdk_key: k, file: [x]}]\n", // not "set exactly one of file and url"
			[]string{"datafiles[0].file (line 1): expected text, got a list"}},
		{"store: {budget_ceiling: soon, budget_floor: 2s}\n", // not "above store.budget_ceiling (1s)"
			[]string{`store.budget_ceiling (line 1): invalid duration "soon"`}},
		{"~: 1\nlog: {level: loud}\n", // a null key refuses its entry, not the mapping holding it
			[]string{"(top level) (line 1): a null key", `log.level: "loud"`}},
	} {
		_, err := Parse([]byte(tt.yaml), noEnv)
		if err == nil {
			t.Errorf("%q: accepted", tt.yaml)
			continue
		}
		got := strings.Split(err.Error(), "\n")
		if len(got) != len(tt.want) {
			t.Errorf("%q: %d problems, want %d:\n%v", tt.yaml, len(got), len(tt.want), err)
			continue
		}
		for i, w := range tt.want {
			if !strings.HasPrefix(got[i], w) {
				t.Errorf("%q: problem %d is %q, want %q", tt.yaml, i+1, got[i], w)
			}
		}
	}
	for msg, path := range map[string]string{
		"x: set without store.cache.size":    "store.cache.size",
		"x: above store.budget_ceiling (1s)": "store.budget_ceiling",
	} {
		if !mentions(msg, path) {
			t.Errorf("mentions(%q, %q) = false", msg, path)
		}
	}
	for msg, path := range map[string]string{
		"environments.development.x: y": "environment",
		"server.tokens_x: y":            "server.tokens",
		"a.store.cache: y":              "store.cache",
	} {
		if mentions(msg, path) {
			t.Errorf("mentions(%q, %q) = true", msg, path)
		}
	}
}
