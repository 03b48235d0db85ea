package config

import (
	"strings"
	"testing"
	"time"
)

// TestMemoryStoreNeedsNoCassandraSettings: with the in-memory store (the
// default) a file needs no environment and no replication; the default
// environment, development, keeps assignments forever.
func TestMemoryStoreNeedsNoCassandraSettings(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        map[string]string
		retention  time.Duration
	}{
		{"empty file", "", nil, 0},
		{"service keys only", "store: {kind: memory}\ndatafiles: [{sdk_key: sample, file: examples/datafile-v1.json}]\n", nil, 0},
		{"an environment without replication", "environments:\n  development:\n    retention: 1d\n", nil, 24 * time.Hour},
		{"retention from a variable", "", map[string]string{"STICKYBUCKET_RETENTION": "2d"}, 48 * time.Hour},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), envMap(tt.env))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			env, err := cfg.Active()
			if err != nil {
				t.Fatalf("Active: %v", err)
			}
			if cfg.Environment != DefaultEnvironment || env.Retention.Std() != tt.retention || env.Keyspace != defaultKeyspace {
				t.Errorf("environment %q = %+v, want %s with retention %v", cfg.Environment, env, DefaultEnvironment, tt.retention)
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
		})
	}
	if _, err := Default().Active(); err != nil {
		t.Errorf("Default().Active() = %v", err)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

// TestCassandraStoreNeedsItsSettings: what the memory store does without
// is required with the Cassandra store, by file, variable or a caller
// switching the kind (serve --store, migrate, profiles); and a
// replication written is checked whatever the store.
func TestCassandraStoreNeedsItsSettings(t *testing.T) {
	const noEnvs = "at least one environment is required with the Cassandra store"
	for _, tt := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"no environment", "store: {kind: cassandra}\n", nil, "environments: " + noEnvs},
		{"kind from a variable", "", map[string]string{"STICKYBUCKET_STORE": "cassandra"}, "environments: " + noEnvs},
		{"only the default one a variable made", "store: {kind: cassandra}\n", map[string]string{"STICKYBUCKET_RETENTION": "1d"}, "environments: " + noEnvs},
		{"no replication", "store: {kind: cassandra}\nenvironments: {development: {retention: 1d}}\n", nil,
			"environments.development.replication.class: required with the Cassandra store: SimpleStrategy or NetworkTopologyStrategy"},
		{"memory, bad replication written", "environments: {development: {replication: {class: NetworkTopologyStrategy, datacenters: {dc1: 3}}}}\n", nil,
			"environments.development.replication: local_dc must be set"},
		{"memory, half a replication", "environments: {development: {replication: {replication_factor: 3}}}\n", nil,
			"environments.development.replication.class: required"},
		{"memory, another environment named", "environment: production\n", nil,
			`environment: "production" is not defined: environments is empty, and then only "development" exists`},
		{"memory, a bad consistency written", "environments: {development: {read_consistency: MOST}}\n", nil,
			`environments.development.read_consistency: "MOST" is not one of`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), envMap(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse = %v\nwant an error containing %q", err, tt.want)
			}
			if n := strings.Count(err.Error(), "\n") + 1; n != 1 {
				t.Errorf("%d problems, want 1:\n%v", n, err)
			}
		})
	}
	// A caller that switches a memory configuration to Cassandra (serve
	// --store cassandra, migrate, profiles) validates again.
	cfg, err := Parse(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store.Kind = StoreCassandra
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), noEnvs) {
		t.Errorf("Validate with the kind switched = %v, want %q", err, noEnvs)
	}
}
