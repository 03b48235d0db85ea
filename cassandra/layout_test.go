package cassandra

import (
	"strings"
	"testing"

	"github.com/gocql/gocql"
)

func TestLayoutProblems(t *testing.T) {
	nts := func(dcs map[string]int) Replication {
		return Replication{Class: NetworkTopologyStrategy, Datacenters: dcs}
	}
	simple := func(rf int) Replication {
		return Replication{Class: SimpleStrategy, ReplicationFactor: rf}
	}
	for _, c := range []struct {
		name    string
		repl    Replication
		nodes   map[string]int
		localDC string
		level   gocql.Consistency
		want    string // a part of the one problem; "" for none
	}{
		{"3+1 in dc1", nts(map[string]int{"dc1": 3, "dc2": 1}), map[string]int{"dc1": 3, "dc2": 1}, "dc1", gocql.LocalQuorum, ""},
		{"3+1 in dc2", nts(map[string]int{"dc1": 3, "dc2": 1}), map[string]int{"dc1": 3, "dc2": 1}, "dc2", gocql.LocalQuorum, "needs 1 of the 1 replica(s) in datacenter dc2: with one node down"},
		{"2+2", nts(map[string]int{"dc1": 2, "dc2": 2}), map[string]int{"dc1": 2, "dc2": 2}, "dc1", gocql.LocalQuorum, "needs 2 of the 2 replica(s) in datacenter dc1"},
		{"2+2 at LOCAL_ONE", nts(map[string]int{"dc1": 2, "dc2": 2}), map[string]int{"dc1": 2, "dc2": 2}, "dc1", gocql.LocalOne, ""},
		{"3+3", nts(map[string]int{"dc1": 3, "dc2": 3}), map[string]int{"dc1": 3, "dc2": 3}, "dc2", gocql.LocalQuorum, ""},
		{"RF 3 on 2 nodes", nts(map[string]int{"dc1": 3}), map[string]int{"dc1": 2}, "dc1", gocql.LocalQuorum, "needs 2 of the 2 replica(s)"},
		{"RF 3 on 1 node", nts(map[string]int{"dc1": 3}), map[string]int{"dc1": 1}, "dc1", gocql.LocalQuorum, "only 1 can be placed"},
		{"no replicas in local dc", nts(map[string]int{"dc1": 3}), map[string]int{"dc1": 3, "dc2": 1}, "dc2", gocql.LocalOne, "datacenter dc2 has no replicas"},
		{"one node", simple(1), map[string]int{"dc1": 1}, "", gocql.LocalQuorum, "needs 1 of the 1 replica(s) in the cluster"},
		{"simple 3 of 3", simple(3), map[string]int{"dc1": 3}, "", gocql.LocalQuorum, ""},
		{"QUORUM on 3+1", nts(map[string]int{"dc1": 3, "dc2": 1}), map[string]int{"dc1": 3, "dc2": 1}, "dc1", gocql.Quorum, ""},
		{"ALL", simple(3), map[string]int{"dc1": 3}, "", gocql.All, "ALL never survives"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := LayoutProblems(c.repl, ClusterOptions{LocalDC: c.localDC, ReadConsistency: c.level, WriteConsistency: c.level}, c.nodes)
			if c.want == "" {
				if len(got) != 0 {
					t.Fatalf("problems %q, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], c.want) {
				t.Fatalf("problems %q, want one containing %q", got, c.want)
			}
		})
	}
	local := ClusterOptions{ReadConsistency: gocql.LocalOne, WriteConsistency: gocql.LocalOne}
	if got := LayoutProblems(simple(1), local, map[string]int{"dc1": 1, "dc2": 1}); len(got) != 2 || !strings.Contains(got[1], "needs 1 of the 1") || !strings.Contains(got[0], "SimpleStrategy places replicas without regard") {
		t.Fatalf("SimpleStrategy over two datacenters: %q", got)
	}
}

func TestLocalOnly(t *testing.T) {
	for _, c := range []struct {
		opts ClusterOptions
		want bool
	}{
		{ClusterOptions{LocalDC: "dc1", ReadConsistency: gocql.LocalQuorum, WriteConsistency: gocql.LocalQuorum}, true},
		{ClusterOptions{LocalDC: "dc1", ReadConsistency: gocql.LocalQuorum, WriteConsistency: gocql.LocalQuorum, RemoteDCFallback: true}, false},
		{ClusterOptions{ReadConsistency: gocql.LocalQuorum, WriteConsistency: gocql.LocalQuorum}, false},
		{ClusterOptions{LocalDC: "dc1", ReadConsistency: gocql.Quorum, WriteConsistency: gocql.Quorum}, false},
		{ClusterOptions{LocalDC: "dc1", ReadConsistency: gocql.LocalOne, WriteConsistency: gocql.Quorum}, true},
		{ClusterOptions{LocalDC: "dc1"}, true}, // LOCAL_QUORUM by default
	} {
		if got := c.opts.LocalOnly(); got != c.want {
			t.Errorf("LocalOnly(%+v) = %v, want %v", c.opts, got, c.want)
		}
		c.opts.Keyspace = "ks"
		cl, err := NewCluster(c.opts)
		if err != nil {
			t.Fatal(err)
		}
		if (cl.HostFilter != nil) != c.want {
			t.Errorf("NewCluster(%+v): host filter %v, want one: %v", c.opts, cl.HostFilter, c.want)
		}
	}
}
