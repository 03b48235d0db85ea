package config

import (
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestLoadExample(t *testing.T) {
	cfg, err := Load("../stickybucket.example.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	prod := cfg.Environments["production"]
	if prod.Retention.Std() != 90*24*time.Hour {
		t.Errorf("production retention = %v, want 90 days", prod.Retention.Std())
	}
	r := prod.RetentionPolicy()
	if r.For("30001") != 0 || r.For("30002") != 30*24*time.Hour || r.For("other") != 90*24*time.Hour {
		t.Errorf("production retention policy = %+v", r)
	}
	if prod.Replication.Datacenters["us-east"] != 3 || prod.LocalDC != "eu-west" {
		t.Errorf("production replication = %+v, local_dc %q", prod.Replication, prod.LocalDC)
	}
	env, err := cfg.Active()
	if err != nil || env.Keyspace != "stickybucket_dev" {
		t.Errorf("Active() = %+v, %v; want development", env, err)
	}
}

func TestLoadDefaults(t *testing.T) {
	cfg, err := Load("testdata/minimal.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := cfg.Active()
	if env.Keyspace != "stickybucket" || env.ReadConsistency != "LOCAL_QUORUM" || env.WriteConsistency != "LOCAL_QUORUM" {
		t.Errorf("defaults not applied: %+v", env)
	}
	if env.Retention != 0 {
		t.Errorf("default retention = %v, want 0 (forever)", env.Retention)
	}
	if cfg.Cassandra.Port != 9042 || cfg.Cassandra.Hosts[0] != "127.0.0.1" || cfg.Cassandra.Timeout.Std() != 2*time.Second {
		t.Errorf("connection defaults not applied: %+v", cfg.Cassandra)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		file, want string
	}{
		{"testdata/typo.yaml", "environments.development.retension (line 3): unknown key; the keys here are first_writer_wins, keyspace, local_dc"},
		{"testdata/too_long.yaml", "environments.production.retention: 175224h0m0s exceeds the maximum"},
		{"testdata/missing.yaml", "no such file"},
	}
	for _, tt := range tests {
		_, err := Load(tt.file, noEnv)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want an error containing %q", tt.file, err, tt.want)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg, err := Load("../stickybucket.example.yaml", envMap(map[string]string{
		"STICKYBUCKET_ENVIRONMENT":        "production",
		"STICKYBUCKET_RETENTION":          "36h",
		"STICKYBUCKET_KEYSPACE":           "sb_override",
		"STICKYBUCKET_READ_CONSISTENCY":   "local_one",
		"STICKYBUCKET_LOCAL_DC":           "us-east",
		"STICKYBUCKET_CASSANDRA_HOSTS":    "127.0.0.2, 127.0.0.3",
		"STICKYBUCKET_CASSANDRA_PORT":     "19042",
		"STICKYBUCKET_CASSANDRA_USERNAME": "app",
		"STICKYBUCKET_CASSANDRA_PASSWORD": "secret",
	}))
	if err != nil {
		t.Fatal(err)
	}
	env, _ := cfg.Active()
	if cfg.Environment != "production" || env.Retention.Std() != 36*time.Hour || env.Keyspace != "sb_override" ||
		env.ReadConsistency != "LOCAL_ONE" || env.LocalDC != "us-east" {
		t.Errorf("environment overrides not applied: %s %+v", cfg.Environment, env)
	}
	if strings.Join(cfg.Cassandra.Hosts, ",") != "127.0.0.2,127.0.0.3" || cfg.Cassandra.Port != 19042 ||
		cfg.Cassandra.Username != "app" || cfg.Cassandra.Password != "secret" {
		t.Errorf("connection overrides not applied: %+v", cfg.Cassandra)
	}
	if cfg.Environments["staging"].Retention.Std() != 14*24*time.Hour {
		t.Errorf("an override leaked into a non-selected environment")
	}
}

func TestEnvOverrideErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"STICKYBUCKET_CASSANDRA_PORT": "x"}, "STICKYBUCKET_CASSANDRA_PORT (overrides cassandra.port)"},
		{map[string]string{"STICKYBUCKET_RETENTION": "forever"}, `STICKYBUCKET_RETENTION (overrides environments.<active>.retention): invalid duration "forever"`},
		{map[string]string{"STICKYBUCKET_ENVIRONMENT": "qa", "STICKYBUCKET_KEYSPACE": "k"}, `environment "qa" is not defined`},
		{map[string]string{"STICKYBUCKET_ENVIRONMENT": "qa"}, `environment: "qa" is not one of the defined environments (development, production, staging)`},
		{map[string]string{"STICKYBUCKET_WRITE_CONSISTENCY": "ANY"}, `environments.development.write_consistency: "ANY" is not one of`},
	}
	for _, tt := range tests {
		_, err := Load("../stickybucket.example.yaml", envMap(tt.env))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v: Load = %v, want an error containing %q", tt.env, err, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	valid := func() Config {
		c := Default()
		c.Store.Kind = StoreCassandra
		c.Environments = map[string]Environment{"development": {
			Retention:        Duration(time.Hour),
			Keyspace:         "ks",
			Replication:      Replication{Class: NetworkTopologyStrategy, Datacenters: map[string]int{"dc1": 3}},
			ReadConsistency:  "LOCAL_QUORUM",
			WriteConsistency: "LOCAL_QUORUM",
			LocalDC:          "dc1",
		}}
		return c
	}
	tests := []struct {
		name   string
		mutate func(c *Config, e *Environment)
		want   string // "" means valid
	}{
		{"valid", func(*Config, *Environment) {}, ""},
		{"retention forever", func(_ *Config, e *Environment) { e.Retention = 0 }, ""},
		{"retention at max", func(_ *Config, e *Environment) { e.Retention = Duration(630720000 * time.Second) }, ""},
		{"retention over max", func(_ *Config, e *Environment) { e.Retention = Duration(630720001 * time.Second) }, "environments.development.retention: 175200h0m1s exceeds the maximum"},
		{"negative retention", func(_ *Config, e *Environment) { e.Retention = Duration(-time.Second) }, "retention: -1s is negative"},
		{"fractional retention", func(_ *Config, e *Environment) { e.Retention = Duration(1500 * time.Millisecond) }, "not a whole number of seconds"},
		{"override over max", func(_ *Config, e *Environment) {
			e.RetentionOverrides = map[string]Duration{"42": Duration(21 * 365 * 24 * time.Hour)}
		}, `environments.development.retention_overrides["42"]: 183960h0m0s exceeds the maximum`},
		{"override empty id", func(_ *Config, e *Environment) { e.RetentionOverrides = map[string]Duration{"": 0} }, "experiment ID is empty"},
		{"keyspace injection", func(_ *Config, e *Environment) { e.Keyspace = "ks; DROP KEYSPACE x" }, "environments.development.keyspace"},
		{"keyspace too long", func(_ *Config, e *Environment) { e.Keyspace = strings.Repeat("k", 49) }, "not a valid keyspace name"},
		{"bad read consistency", func(_ *Config, e *Environment) { e.ReadConsistency = "MOST" }, `read_consistency: "MOST" is not one of`},
		{"no replication", func(_ *Config, e *Environment) { e.Replication = Replication{} }, "replication.class: required"},
		{"unknown strategy", func(_ *Config, e *Environment) { e.Replication.Class = "LocalStrategy" }, `replication.class: "LocalStrategy" is not`},
		{"simple without rf", func(_ *Config, e *Environment) { e.Replication = Replication{Class: SimpleStrategy} }, "replication.replication_factor: must be at least 1"},
		{"nts without dcs", func(_ *Config, e *Environment) { e.Replication.Datacenters = nil }, "replication.datacenters: at least one datacenter"},
		{"nts zero rf", func(_ *Config, e *Environment) { e.Replication.Datacenters["dc1"] = 0 }, `replication.datacenters["dc1"]: replication factor must be at least 1`},
		{"nts quoted dc", func(_ *Config, e *Environment) { e.Replication.Datacenters["x' : 1}"] = 1 }, "not a valid datacenter name"},
		{"nts no local dc", func(_ *Config, e *Environment) { e.LocalDC = "" }, "local_dc must be set with NetworkTopologyStrategy"},
		{"nts local dc without replicas", func(_ *Config, e *Environment) { e.LocalDC = "dc2" }, `local_dc "dc2" has no replicas`},
		{"no hosts", func(c *Config, _ *Environment) { c.Cassandra.Hosts = nil }, "cassandra.hosts: at least one contact point"},
		{"bad port", func(c *Config, _ *Environment) { c.Cassandra.Port = 70000 }, "cassandra.port: 70000 is not a TCP port"},
		{"password without user", func(c *Config, _ *Environment) { c.Cassandra.Password = "p" }, "cassandra.username: required"},
		{"cert without key", func(c *Config, _ *Environment) { c.Cassandra.TLS = TLS{Enabled: true, CertFile: "c.pem"} }, "cassandra.tls: cert_file and key_file"},
		{"unknown environment", func(c *Config, _ *Environment) { c.Environment = "prod" }, `environment: "prod" is not one of the defined environments (development)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			e := c.Environments["development"]
			tt.mutate(&c, &e)
			c.Environments["development"] = e
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30d", 30 * 24 * time.Hour, true},
		{"0d", 0, true},
		{"36h", 36 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"1.5d", 0, false},
		{"-1d", 0, false},
		{"forever", 0, false},
		{"99999999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got.Std() != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", tt.in, got.Std(), err, tt.want, tt.ok)
		}
	}
}
