package cassandra

import (
	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/config"
)

// sessionConfig copies cluster for a session of Migrate's own. gocql binds a
// token-aware host policy to the first session that initialises it and
// panics when a second one does, so a cluster from NewCluster can serve one
// session only. The copy gets a host policy of its own, preferring the
// environment's local DC; schema statements need no token awareness. The
// caller's cluster is left untouched, so it can still open its session.
func sessionConfig(cluster *gocql.ClusterConfig, env config.Environment, keyspace string) *gocql.ClusterConfig {
	c := *cluster
	c.Keyspace = keyspace
	if env.LocalDC != "" {
		c.PoolConfig.HostSelectionPolicy = gocql.DCAwareRoundRobinPolicy(env.LocalDC)
	} else {
		c.PoolConfig.HostSelectionPolicy = gocql.RoundRobinHostPolicy()
	}
	return &c
}
