package cassandra

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/migrate"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/cql"
)

// Migrate creates the environment's keyspace with its replication if it is
// missing, then applies the embedded cql/*.cql migrations inside it.
// Running it again is a no-op: the keyspace exists and gocqlx's
// gocqlx_migrate table records every applied file and its checksum.
//
// Migrate opens its own short-lived sessions from copies of cluster, each
// with a host selection policy of its own (round robin in the
// environment's local DC): gocql lets one policy object serve one session
// only, so the policy of cluster (NewCluster's token-aware one) is left
// for the store's session.
//
// If the keyspace exists with a replication other than the configured one,
// Migrate leaves it alone and logs a warning: changing replication needs
// ALTER KEYSPACE followed by a full repair, an operator's decision.
//
// Migrate's own sessions route by a DC-aware round robin of their own
// (env.LocalDC): cluster's host selection policy is never initialised, so
// a token-aware one, which gocql lets serve a single session, is still
// free for the caller's session afterwards.
func Migrate(ctx context.Context, cluster *gocql.ClusterConfig, env config.Environment, log *slog.Logger) error {
	if err := env.Validate(); err != nil {
		return fmt.Errorf("cassandra: migrate: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	if err := createKeyspace(ctx, cluster, env, log); err != nil {
		return err
	}
	session, err := gocqlx.WrapSession(adminCluster(cluster, env, env.Keyspace).CreateSession())
	if err != nil {
		return fmt.Errorf("cassandra: migrate keyspace %s: connect: %w", env.Keyspace, err)
	}
	defer session.Close()
	if err := migrate.FromFS(ctx, session, cql.Migrations); err != nil {
		return fmt.Errorf("cassandra: migrate keyspace %s: %w", env.Keyspace, err)
	}
	return nil
}

func createKeyspace(ctx context.Context, cluster *gocql.ClusterConfig, env config.Environment, log *slog.Logger) error {
	session, err := adminCluster(cluster, env, "").CreateSession()
	if err != nil {
		return fmt.Errorf("cassandra: create keyspace %s: connect: %w", env.Keyspace, err)
	}
	defer session.Close()

	want := replicationMap(env.Replication)
	// CQL cannot bind identifiers or DDL options, so this one statement is
	// assembled; every piece comes from validated configuration (keyspace
	// and DC names are checked against strict patterns in config).
	stmt := fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = true",
		env.Keyspace, cqlMapLiteral(want))
	if err := session.Query(stmt).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("cassandra: create keyspace %s: %w", env.Keyspace, err)
	}
	if err := session.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("cassandra: create keyspace %s: await schema agreement: %w", env.Keyspace, err)
	}

	var have map[string]string
	err = session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, env.Keyspace).
		WithContext(ctx).Scan(&have)
	if err != nil {
		return fmt.Errorf("cassandra: read replication of keyspace %s: %w", env.Keyspace, err)
	}
	if !sameReplication(have, want) {
		log.WarnContext(ctx, "keyspace replication differs from configuration; leaving it unchanged",
			"keyspace", env.Keyspace, "have", have, "want", want,
			"fix", "ALTER KEYSPACE with the wanted replication, then run a full repair")
	}
	return nil
}

// adminCluster copies cluster for one of Migrate's sessions, on keyspace,
// with a host selection policy of its own: schema changes need no token
// awareness, and gocql panics when a token-aware policy serves a second
// session.
func adminCluster(cluster *gocql.ClusterConfig, env config.Environment, keyspace string) *gocql.ClusterConfig {
	c := *cluster
	c.Keyspace = keyspace
	c.PoolConfig.HostSelectionPolicy = localPolicy(env.LocalDC)
	return &c
}

func replicationMap(r config.Replication) map[string]string {
	m := map[string]string{"class": r.Class}
	if r.Class == config.SimpleStrategy {
		m["replication_factor"] = strconv.Itoa(r.ReplicationFactor)
		return m
	}
	for dc, rf := range r.Datacenters {
		m[dc] = strconv.Itoa(rf)
	}
	return m
}

func cqlMapLiteral(m map[string]string) string {
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, quote(k)+": "+quote(m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// sameReplication compares replication maps as Cassandra reports them: the
// class comes back fully qualified.
func sameReplication(have, want map[string]string) bool {
	if len(have) != len(want) {
		return false
	}
	for k, v := range want {
		h := have[k]
		if k == "class" {
			h = strings.TrimPrefix(h, "org.apache.cassandra.locator.")
		}
		if h != v {
			return false
		}
	}
	return true
}
