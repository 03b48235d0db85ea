package stack

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
)

// CassandraClusterOptions converts the connection settings and an
// environment into package cassandra's cluster options. gocql's messages go
// to slog.Default() at cassandra.log_level; set Log for another logger.
func CassandraClusterOptions(conn config.Connection, env config.Environment) (cassandra.ClusterOptions, error) {
	read, err := cassandra.ParseConsistency(env.ReadConsistency)
	if err != nil {
		return cassandra.ClusterOptions{}, fmt.Errorf("cassandra: read_consistency: %w", err)
	}
	write, err := cassandra.ParseConsistency(env.WriteConsistency)
	if err != nil {
		return cassandra.ClusterOptions{}, fmt.Errorf("cassandra: write_consistency: %w", err)
	}
	o := cassandra.ClusterOptions{
		Hosts:            conn.Hosts,
		Port:             conn.Port,
		ConnectTimeout:   conn.ConnectTimeout.Std(),
		Timeout:          conn.Timeout.Std(),
		Username:         conn.Username,
		Password:         conn.Password,
		Keyspace:         env.Keyspace,
		LocalDC:          env.LocalDC,
		ReadConsistency:  read,
		WriteConsistency: write,
		RemoteDCFallback: env.RemoteDCFallback,
		LogLevel:         logLevel(conn.LogLevel),
	}
	if conn.TLS.Enabled {
		o.TLS = &cassandra.TLSOptions{
			CAFile:             conn.TLS.CAFile,
			CertFile:           conn.TLS.CertFile,
			KeyFile:            conn.TLS.KeyFile,
			InsecureSkipVerify: conn.TLS.InsecureSkipVerify,
		}
	}
	return o, nil
}

// logLevel is the level gocql's messages are logged at: the configured
// one, warn when none is.
func logLevel(name string) slog.Level {
	level := slog.LevelWarn
	if name != "" {
		_ = level.UnmarshalText([]byte(name))
	}
	return level
}

// CassandraStoreOptions converts an environment into package cassandra's
// store options: keyspace, retention and consistency levels.
func CassandraStoreOptions(env config.Environment) (cassandra.StoreOptions, error) {
	read, err := cassandra.ParseConsistency(env.ReadConsistency)
	if err != nil {
		return cassandra.StoreOptions{}, fmt.Errorf("cassandra: read_consistency: %w", err)
	}
	write, err := cassandra.ParseConsistency(env.WriteConsistency)
	if err != nil {
		return cassandra.StoreOptions{}, fmt.Errorf("cassandra: write_consistency: %w", err)
	}
	serial := gocql.Serial
	if env.SerialConsistency == "LOCAL_SERIAL" {
		serial = gocql.LocalSerial
	}
	return cassandra.StoreOptions{
		Keyspace:          env.Keyspace,
		Retention:         env.RetentionPolicy(),
		ReadConsistency:   read,
		WriteConsistency:  write,
		SerialConsistency: serial,
	}, nil
}

// CassandraMigrateOptions converts an environment into what
// cassandra.Migrate creates: its keyspace with its replication.
func CassandraMigrateOptions(env config.Environment, log *slog.Logger) cassandra.MigrateOptions {
	return cassandra.MigrateOptions{
		Keyspace:    env.Keyspace,
		Replication: cassandraReplication(env.Replication),
		LocalDC:     env.LocalDC,
		Log:         log,
	}
}

func cassandraReplication(r config.Replication) cassandra.Replication {
	return cassandra.Replication{Class: r.Class, ReplicationFactor: r.ReplicationFactor, Datacenters: r.Datacenters}
}

// openCassandra connects to the cluster and returns the store and the
// session it runs on.
func openCassandra(ctx context.Context, cfg config.Config, env config.Environment, opts Options, log *slog.Logger) (*cassandra.Store, *gocql.Session, error) {
	clusterOpts, err := CassandraClusterOptions(cfg.Cassandra, env)
	if err != nil {
		return nil, nil, fmt.Errorf("stack: %w", err)
	}
	// gocql's messages go to the stack's logger at cassandra.log_level.
	clusterOpts.Log = log
	cluster, err := cassandra.NewCluster(clusterOpts)
	if err != nil {
		return nil, nil, fmt.Errorf("stack: %w", err)
	}
	if opts.Migrate {
		if err := cassandra.Migrate(ctx, cluster, CassandraMigrateOptions(env, log)); err != nil {
			return nil, nil, fmt.Errorf("stack: %w", err)
		}
	}
	storeOpts, err := CassandraStoreOptions(env)
	if err != nil {
		return nil, nil, fmt.Errorf("stack: %w", err)
	}
	storeOpts.Now = opts.Now
	session, err := cluster.CreateSession()
	if err != nil {
		return nil, nil, fmt.Errorf("stack: connect to Cassandra at %v: %w", cfg.Cassandra.Hosts, err)
	}
	nodes := checkLayout(ctx, session, env, clusterOpts, log)
	storeOpts.SpeculativeAfter = cfg.Cassandra.SpeculativeAfter.Std()
	if storeOpts.SpeculativeAfter > 0 && nodes < 2 {
		// gocql's speculative attempt finds no other host and fails at
		// once with "no connections", winning over the real attempt.
		log.Info("speculative execution off: one coordinator only", "nodes", nodes)
		storeOpts.SpeculativeAfter = 0
	}
	store, err := cassandra.NewStore(session, storeOpts)
	if err != nil {
		session.Close()
		return nil, nil, fmt.Errorf("stack: %w", err)
	}
	return store, session, nil
}

// checkLayout logs what the cluster's layout cannot survive with the
// environment's replication and consistency levels (a datacenter whose
// quorum one node down breaks, say), and returns how many nodes the
// session may use as coordinators (the local datacenter's when it keeps
// to it). A layout that cannot be read is logged too, and counts as one
// node: it is advice, not a reason to refuse to start.
func checkLayout(ctx context.Context, session *gocql.Session, env config.Environment, cluster cassandra.ClusterOptions, log *slog.Logger) int {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	nodes, err := cassandra.ClusterLayout(lctx, session)
	if err != nil {
		log.Warn("cannot read the cluster's layout to check it", "err", err)
		return 1
	}
	for _, p := range cassandra.LayoutProblems(cassandraReplication(env.Replication), cluster, nodes) {
		log.Warn("the cluster's layout does not survive a node down", "keyspace", env.Keyspace, "local_dc", env.LocalDC, "problem", p)
	}
	if cluster.LocalOnly() {
		return nodes[env.LocalDC]
	}
	total := 0
	for _, n := range nodes {
		total += n
	}
	return total
}
