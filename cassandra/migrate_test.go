package cassandra

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"
)

func TestReplicationLiteral(t *testing.T) {
	tests := []struct {
		r    Replication
		want string
	}{
		{Replication{Class: SimpleStrategy, ReplicationFactor: 1},
			"{'class': 'SimpleStrategy', 'replication_factor': '1'}"},
		{Replication{Class: NetworkTopologyStrategy, Datacenters: map[string]int{"us-east": 3, "eu-west": 2}},
			"{'class': 'NetworkTopologyStrategy', 'eu-west': '2', 'us-east': '3'}"},
	}
	for _, tt := range tests {
		if got := cqlMapLiteral(replicationMap(tt.r)); got != tt.want {
			t.Errorf("literal for %+v = %s, want %s", tt.r, got, tt.want)
		}
	}
	if got := cqlMapLiteral(map[string]string{"a'b": "c"}); got != "{'a''b': 'c'}" {
		t.Errorf("quotes not escaped: %s", got)
	}
}

func TestSameReplication(t *testing.T) {
	want := replicationMap(Replication{Class: NetworkTopologyStrategy, Datacenters: map[string]int{"dc1": 3}})
	tests := []struct {
		have map[string]string
		same bool
	}{
		{map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3"}, true},
		{map[string]string{"class": "NetworkTopologyStrategy", "dc1": "3"}, true},
		{map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "1"}, false},
		{map[string]string{"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": "3", "dc2": "3"}, false},
		{map[string]string{"class": "org.apache.cassandra.locator.SimpleStrategy", "replication_factor": "3"}, false},
	}
	for _, tt := range tests {
		if got := sameReplication(tt.have, want); got != tt.same {
			t.Errorf("sameReplication(%v, %v) = %v, want %v", tt.have, want, got, tt.same)
		}
	}
}

// TestMigrateLeavesTheClusterPolicyAlone: NewCluster's token-aware policy
// may serve one session only (gocql panics on a second), yet Migrate opens
// two sessions, and the caller then wants its own. No Cassandra is needed:
// gocql initialises the policy before it connects.
func TestMigrateLeavesTheClusterPolicyAlone(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now: every connection is refused
	opts := ClusterOptions{
		Hosts: []string{"127.0.0.1"}, Port: port,
		ConnectTimeout: 200 * time.Millisecond, Timeout: 200 * time.Millisecond,
		Keyspace:        "sb_policy",
		ReadConsistency: gocql.LocalQuorum, WriteConsistency: gocql.LocalQuorum,
		LocalDC: "dc1",
	}
	schema := MigrateOptions{
		Keyspace:    "sb_policy",
		Replication: Replication{Class: NetworkTopologyStrategy, Datacenters: map[string]int{"dc1": 3}},
		LocalDC:     "dc1",
		Log:         slog.New(slog.DiscardHandler),
	}
	cluster, err := NewCluster(opts)
	if err != nil {
		t.Fatal(err)
	}
	noPanic := func(what string, f func() error) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("%s panicked: %v", what, r)
			}
		}()
		if err := f(); err == nil {
			t.Fatalf("%s succeeded with nothing listening", what)
		}
	}
	ctx := context.Background()
	noPanic("first Migrate", func() error { return Migrate(ctx, cluster, schema) })
	noPanic("second Migrate", func() error { return Migrate(ctx, cluster, schema) })
	noPanic("the caller's session after Migrate", func() error {
		s, err := cluster.CreateSession()
		if err == nil {
			s.Close()
		}
		return err
	})
}

func TestMigrateRejectsBadOptions(t *testing.T) {
	cluster, err := NewCluster(ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts MigrateOptions
		want string
	}{
		{MigrateOptions{}, "not a valid keyspace name"},
		{MigrateOptions{Keyspace: "ks; DROP KEYSPACE x"}, "not a valid keyspace name"},
		{MigrateOptions{Keyspace: "ks", Replication: Replication{Class: "LocalStrategy"}}, `class "LocalStrategy"`},
		{MigrateOptions{Keyspace: "ks", Replication: Replication{Datacenters: map[string]int{"dc1'": 3}}}, "not a valid datacenter name"},
		{MigrateOptions{Keyspace: "ks", Replication: Replication{Class: NetworkTopologyStrategy}}, "at least one datacenter"},
		{MigrateOptions{Keyspace: "ks", LocalDC: "dc 1"}, "local DC"},
	} {
		// Validation comes before any connection: nothing listens here.
		if err := Migrate(context.Background(), cluster, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Migrate(%+v) = %v, want an error containing %q", c.opts, err, c.want)
		}
	}
}

func TestReplicationZeroValue(t *testing.T) {
	if got := cqlMapLiteral(replicationMap(Replication{})); got != "{'class': 'SimpleStrategy', 'replication_factor': '1'}" {
		t.Errorf("zero Replication = %s, want SimpleStrategy with one replica", got)
	}
	if got := replicationMap(Replication{Datacenters: map[string]int{"dc1": 3}})["class"]; got != NetworkTopologyStrategy {
		t.Errorf("Replication with datacenters and no class = %s, want %s", got, NetworkTopologyStrategy)
	}
	if err := (Replication{}).Validate(); err != nil {
		t.Errorf("zero Replication: %v", err)
	}
}
