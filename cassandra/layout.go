package cassandra

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/gocql/gocql"
)

// ClusterLayout returns how many nodes each datacenter has, as the
// coordinator that answers sees them (system.local and system.peers_v2;
// a node that is down still counts: it is part of the layout).
func ClusterLayout(ctx context.Context, session *gocql.Session) (map[string]int, error) {
	nodes := map[string]int{}
	var dc string
	if err := session.Query("SELECT data_center FROM system.local").WithContext(ctx).Scan(&dc); err != nil {
		return nil, fmt.Errorf("cassandra: read system.local: %w", err)
	}
	nodes[dc]++
	iter := session.Query("SELECT data_center FROM system.peers_v2").WithContext(ctx).Iter()
	for iter.Scan(&dc) {
		nodes[dc]++
	}
	if err := iter.Close(); err != nil {
		return nil, fmt.Errorf("cassandra: read system.peers_v2: %w", err)
	}
	return nodes, nil
}

// LayoutProblems says what a keyspace replicated as r, read and written
// at o's consistency levels from o.LocalDC, cannot do on a cluster with
// nodes nodes per datacenter: serve at all, or survive one node down.
// LOCAL_* levels are judged in o.LocalDC only (every region checks its
// own); the others over the whole cluster. Nil when reads and writes
// survive any one node down.
//
// LOCAL_QUORUM needs floor(RF/2)+1 replicas of the local datacenter, so an
// RF of 3 survives one node down and an RF of 2 (or 1) survives none.
func LayoutProblems(r Replication, o ClusterOptions, nodes map[string]int) []string {
	r, o = r.withDefaults(), o.withDefaults()
	rf := replicationFactors(r)
	var problems []string
	if r.Class == SimpleStrategy && len(nodes) > 1 {
		problems = append(problems, fmt.Sprintf("SimpleStrategy places replicas without regard to the %d datacenters (%s): LOCAL_* levels may find no replica in the local one; use NetworkTopologyStrategy",
			len(nodes), describe(nodes)))
	}
	read, write := o.ReadConsistency.String(), o.WriteConsistency.String()
	levels := []struct{ key, level string }{{"read_consistency", read}, {"write_consistency", write}}
	if read == write {
		levels = levels[:1]
		levels[0].key = "read_consistency and write_consistency"
	}
	for _, op := range levels {
		if p := levelProblem(op.key, op.level, o.LocalDC, rf, nodes); p != "" {
			problems = append(problems, p)
		}
	}
	return problems
}

// levelProblem judges one consistency level.
func levelProblem(key, level, localDC string, rf, nodes map[string]int) string {
	total := 0
	for _, n := range nodes {
		total += n
	}
	placed := func(dc string) (replicas, factor int) {
		if dc == "" { // SimpleStrategy: the whole cluster
			return min(rf[""], total), rf[""]
		}
		return min(rf[dc], nodes[dc]), rf[dc]
	}
	var where string
	var replicas, factor, need int
	switch level {
	case "LOCAL_QUORUM", "LOCAL_ONE":
		dc := localDC
		if _, simple := rf[""]; simple {
			dc = ""
		}
		where = "datacenter " + dc
		if dc == "" {
			where = "the cluster"
		}
		replicas, factor = placed(dc)
		need = 1
		if level == "LOCAL_QUORUM" {
			need = factor/2 + 1
		}
	default:
		where = "the cluster"
		for dc := range rf {
			r, f := placed(dc)
			replicas += r
			factor += f
		}
		switch level {
		case "QUORUM":
			need = factor/2 + 1
		case "ONE":
			need = 1
		case "TWO":
			need = 2
		case "THREE":
			need = 3
		case "ALL":
			need = factor
		default:
			return ""
		}
	}
	switch {
	case factor == 0:
		return fmt.Sprintf("%s %s: %s has no replicas", key, level, where)
	case replicas < need:
		return fmt.Sprintf("%s %s needs %d replica(s) in %s but only %d can be placed (replication factor %d, nodes %s): every such call fails",
			key, level, need, where, replicas, factor, describe(nodes))
	case replicas-1 < need:
		return fmt.Sprintf("%s %s needs %d of the %d replica(s) in %s: with one node down every such call fails (nodes %s); %s",
			key, level, need, replicas, where, describe(nodes), advice(level))
	}
	return ""
}

func advice(level string) string {
	switch level {
	case "LOCAL_QUORUM", "QUORUM":
		return "a replication factor of 3 on at least 3 nodes survives one down"
	case "ALL":
		return "ALL never survives a node down; use a QUORUM level"
	}
	return "add replicas"
}

func describe(nodes map[string]int) string {
	s := ""
	for i, dc := range slices.Sorted(maps.Keys(nodes)) {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s: %d", dc, nodes[dc])
	}
	return "{" + s + "}"
}
