package cassandra

import (
	"testing"

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
