package cassandra

import (
	"context"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/config"
)

func TestReplicationLiteral(t *testing.T) {
	tests := []struct {
		r    config.Replication
		want string
	}{
		{config.Replication{Class: config.SimpleStrategy, ReplicationFactor: 1},
			"{'class': 'SimpleStrategy', 'replication_factor': '1'}"},
		{config.Replication{Class: config.NetworkTopologyStrategy, Datacenters: map[string]int{"us-east": 3, "eu-west": 2}},
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
	want := replicationMap(config.Replication{Class: config.NetworkTopologyStrategy, Datacenters: map[string]int{"dc1": 3}})
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
	conn := config.Connection{
		Hosts: []string{"127.0.0.1"}, Port: port,
		ConnectTimeout: config.Duration(200 * time.Millisecond), Timeout: config.Duration(200 * time.Millisecond),
	}
	env := config.Environment{
		Retention:        config.Duration(time.Hour),
		Keyspace:         "sb_policy",
		Replication:      config.Replication{Class: config.NetworkTopologyStrategy, Datacenters: map[string]int{"dc1": 3}},
		ReadConsistency:  "LOCAL_QUORUM",
		WriteConsistency: "LOCAL_QUORUM",
		LocalDC:          "dc1",
	}
	cluster, err := NewCluster(conn, env)
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
	noPanic("first Migrate", func() error { return Migrate(ctx, cluster, env, slog.New(slog.DiscardHandler)) })
	noPanic("second Migrate", func() error { return Migrate(ctx, cluster, env, slog.New(slog.DiscardHandler)) })
	noPanic("the caller's session after Migrate", func() error {
		s, err := cluster.CreateSession()
		if err == nil {
			s.Close()
		}
		return err
	})
}
