package cassandra

import (
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/config"
)

func TestLayoutProblems(t *testing.T) {
	nts := func(dcs map[string]int) config.Replication {
		return config.Replication{Class: config.NetworkTopologyStrategy, Datacenters: dcs}
	}
	simple := func(rf int) config.Replication {
		return config.Replication{Class: config.SimpleStrategy, ReplicationFactor: rf}
	}
	for _, c := range []struct {
		name    string
		repl    config.Replication
		nodes   map[string]int
		localDC string
		level   string
		want    string // a part of the one problem; "" for none
	}{
		{"3+1 in dc1", nts(map[string]int{"dc1": 3, "dc2": 1}), map[string]int{"dc1": 3, "dc2": 1}, "dc1", "LOCAL_QUORUM", ""},
		{"3+1 in dc2", nts(map[string]int{"dc1": 3, "dc2": 1}), map[string]int{"dc1": 3, "dc2": 1}, "dc2", "LOCAL_QUORUM", "needs 1 of the 1 replica(s) in datacenter dc2: with one node down"},
		{"2+2", nts(map[string]int{"dc1": 2, "dc2": 2}), map[string]int{"dc1": 2, "dc2": 2}, "dc1", "LOCAL_QUORUM", "needs 2 of the 2 replica(s) in datacenter dc1"},
		{"2+2 at LOCAL_ONE", nts(map[string]int{"dc1": 2, "dc2": 2}), map[string]int{"dc1": 2, "dc2": 2}, "dc1", "LOCAL_ONE", ""},
		{"3+3", nts(map[string]int{"dc1": 3, "dc2": 3}), map[string]int{"dc1": 3, "dc2": 3}, "dc2", "LOCAL_QUORUM", ""},
		{"RF 3 on 2 nodes", nts(map[string]int{"dc1": 3}), map[string]int{"dc1": 2}, "dc1", "LOCAL_QUORUM", "needs 2 of the 2 replica(s)"},
		{"RF 3 on 1 node", nts(map[string]int{"dc1": 3}), map[string]int{"dc1": 1}, "dc1", "LOCAL_QUORUM", "only 1 can be placed"},
		{"no replicas in local dc", nts(map[string]int{"dc1": 3}), map[string]int{"dc1": 3, "dc2": 1}, "dc2", "LOCAL_ONE", "datacenter dc2 has no replicas"},
		{"one node", simple(1), map[string]int{"dc1": 1}, "", "LOCAL_QUORUM", "needs 1 of the 1 replica(s) in the cluster"},
		{"simple 3 of 3", simple(3), map[string]int{"dc1": 3}, "", "LOCAL_QUORUM", ""},
		{"QUORUM on 3+1", nts(map[string]int{"dc1": 3, "dc2": 1}), map[string]int{"dc1": 3, "dc2": 1}, "dc1", "QUORUM", ""},
		{"ALL", simple(3), map[string]int{"dc1": 3}, "", "ALL", "ALL never survives"},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := config.Environment{Replication: c.repl, LocalDC: c.localDC, ReadConsistency: c.level, WriteConsistency: c.level}
			got := LayoutProblems(env, c.nodes)
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
	env := config.Environment{Replication: simple(1), ReadConsistency: "LOCAL_ONE", WriteConsistency: "LOCAL_ONE"}
	if got := LayoutProblems(env, map[string]int{"dc1": 1, "dc2": 1}); len(got) != 2 || !strings.Contains(got[1], "needs 1 of the 1") || !strings.Contains(got[0], "SimpleStrategy places replicas without regard") {
		t.Fatalf("SimpleStrategy over two datacenters: %q", got)
	}
}

func TestLocalOnly(t *testing.T) {
	for _, c := range []struct {
		env  config.Environment
		want bool
	}{
		{config.Environment{LocalDC: "dc1", ReadConsistency: "LOCAL_QUORUM", WriteConsistency: "LOCAL_QUORUM"}, true},
		{config.Environment{LocalDC: "dc1", ReadConsistency: "LOCAL_QUORUM", WriteConsistency: "LOCAL_QUORUM", RemoteDCFallback: true}, false},
		{config.Environment{ReadConsistency: "LOCAL_QUORUM", WriteConsistency: "LOCAL_QUORUM"}, false},
		{config.Environment{LocalDC: "dc1", ReadConsistency: "QUORUM", WriteConsistency: "QUORUM"}, false},
	} {
		if got := LocalOnly(c.env); got != c.want {
			t.Errorf("LocalOnly(%+v) = %v, want %v", c.env, got, c.want)
		}
		cl, err := NewCluster(config.Connection{Hosts: []string{"127.0.0.1"}, Port: 9042}, withKeyspace(c.env))
		if err != nil {
			t.Fatal(err)
		}
		if (cl.HostFilter != nil) != c.want {
			t.Errorf("NewCluster(%+v): host filter %v, want one: %v", c.env, cl.HostFilter, c.want)
		}
	}
}

func withKeyspace(e config.Environment) config.Environment {
	e.Keyspace = "ks"
	return e
}
