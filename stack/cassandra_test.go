package stack

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/ups"
)

func TestCassandraStoreOptions(t *testing.T) {
	env := config.Environment{
		Retention:          config.Duration(48 * time.Hour),
		RetentionOverrides: map[string]config.Duration{"7": config.Duration(time.Hour)},
		Keyspace:           "ks",
		ReadConsistency:    "LOCAL_ONE",
		WriteConsistency:   "QUORUM",
		SerialConsistency:  "LOCAL_SERIAL",
	}
	opts, err := CassandraStoreOptions(env)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Keyspace != "ks" || opts.ReadConsistency != gocql.LocalOne || opts.WriteConsistency != gocql.Quorum || opts.SerialConsistency != gocql.LocalSerial {
		t.Errorf("options = %+v, want keyspace ks, LOCAL_ONE/QUORUM, LOCAL_SERIAL", opts)
	}
	if ups.TTLSeconds(opts.Retention.For("7")) != 3600 || ups.TTLSeconds(opts.Retention.For("8")) != 172800 {
		t.Errorf("retention = %+v", opts.Retention)
	}
	env.ReadConsistency = "SOMETIMES"
	if _, err := CassandraStoreOptions(env); err == nil || !strings.Contains(err.Error(), "read_consistency") {
		t.Errorf("CassandraStoreOptions(bad read consistency) = %v, want an error naming read_consistency", err)
	}
}

func TestCassandraClusterOptions(t *testing.T) {
	cfg := config.Default()
	conn := cfg.Cassandra
	conn.Username, conn.Password = "app", "secret"
	conn.TLS = config.TLS{Enabled: true, CAFile: "ca.pem"}
	conn.LogLevel = "error"
	env := config.Environment{Keyspace: "ks", ReadConsistency: "LOCAL_ONE", WriteConsistency: "LOCAL_QUORUM", LocalDC: "eu-west", RemoteDCFallback: true}
	o, err := CassandraClusterOptions(conn, env)
	if err != nil {
		t.Fatal(err)
	}
	want := cassandra.ClusterOptions{
		Hosts: conn.Hosts, Port: 9042, ConnectTimeout: 5 * time.Second, Timeout: 2 * time.Second,
		Username: "app", Password: "secret", TLS: &cassandra.TLSOptions{CAFile: "ca.pem"},
		Keyspace: "ks", LocalDC: "eu-west", ReadConsistency: gocql.LocalOne, WriteConsistency: gocql.LocalQuorum,
		RemoteDCFallback: true, LogLevel: slog.LevelError,
	}
	if o.TLS == nil || *o.TLS != *want.TLS {
		t.Errorf("TLS = %+v, want %+v", o.TLS, want.TLS)
	}
	o.TLS, want.TLS = nil, nil
	if !reflect.DeepEqual(o, want) {
		t.Errorf("options = %+v\nwant      %+v", o, want)
	}
	conn.TLS.Enabled = false
	if o, _ := CassandraClusterOptions(conn, env); o.TLS != nil {
		t.Errorf("TLS off: options carry %+v", o.TLS)
	}
	conn.LogLevel = ""
	if o, _ := CassandraClusterOptions(conn, env); o.LogLevel != slog.LevelWarn {
		t.Errorf("no log_level: gocql logs at %v, want warn", o.LogLevel)
	}
}

func TestCassandraMigrateOptions(t *testing.T) {
	env := config.Environment{
		Keyspace:    "ks",
		LocalDC:     "dc1",
		Replication: config.Replication{Class: config.NetworkTopologyStrategy, Datacenters: map[string]int{"dc1": 3, "dc2": 1}},
	}
	o := CassandraMigrateOptions(env, nil)
	if o.Keyspace != "ks" || o.LocalDC != "dc1" || o.Replication.Class != cassandra.NetworkTopologyStrategy || o.Replication.Datacenters["dc2"] != 1 {
		t.Errorf("options = %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("a valid environment's options: %v", err)
	}
}
