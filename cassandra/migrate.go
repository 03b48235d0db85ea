package cassandra

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2"
	"github.com/scylladb/gocqlx/v2/migrate"

	"github.com/stickybucket/stickybucket/cql"
)

// MigrateOptions says which keyspace Migrate creates and migrates.
type MigrateOptions struct {
	// Keyspace is created if it is missing and holds the schema.
	Keyspace string
	// Replication is the new keyspace's. A keyspace that exists keeps its
	// own, and Migrate warns when the two differ.
	Replication Replication
	// LocalDC is where Migrate's sessions pick their coordinators, round
	// robin; empty, among every node.
	LocalDC string
	// Log receives that warning; nil means slog.Default().
	Log *slog.Logger
}

// Validate reports every problem of o at once.
func (o MigrateOptions) Validate() error {
	var errs []error
	if err := ValidateKeyspace(o.Keyspace); err != nil {
		errs = append(errs, err)
	}
	if err := o.Replication.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.LocalDC != "" {
		if err := ValidateDatacenter(o.LocalDC); err != nil {
			errs = append(errs, fmt.Errorf("local DC: %w", err))
		}
	}
	return errors.Join(errs...)
}

// Migrate creates o.Keyspace with o.Replication if it is missing, then
// applies the embedded cql/*.cql migrations inside it. Running it again is
// a no-op: the keyspace exists and gocqlx's gocqlx_migrate table records
// every applied file and its checksum.
//
// Migrate opens its own short-lived sessions from copies of cluster, each
// with a host selection policy of its own (round robin in o.LocalDC):
// gocql lets one policy object serve one session only, so the policy of
// cluster (NewCluster's token-aware one) is never initialised and stays
// free for the caller's session afterwards.
//
// If the keyspace exists with a replication other than o.Replication,
// Migrate leaves it alone and logs a warning: changing replication needs
// ALTER KEYSPACE followed by a full repair, an operator's decision.
func Migrate(ctx context.Context, cluster *gocql.ClusterConfig, o MigrateOptions) error {
	if err := o.Validate(); err != nil {
		return fmt.Errorf("cassandra: migrate: %w", err)
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if err := createKeyspace(ctx, cluster, o); err != nil {
		return err
	}
	session, err := gocqlx.WrapSession(adminCluster(cluster, o.LocalDC, o.Keyspace).CreateSession())
	if err != nil {
		return fmt.Errorf("cassandra: migrate keyspace %s: connect: %w", o.Keyspace, err)
	}
	defer session.Close()
	if err := migrate.FromFS(ctx, session, cql.Migrations); err != nil {
		return fmt.Errorf("cassandra: migrate keyspace %s: %w", o.Keyspace, err)
	}
	return nil
}

func createKeyspace(ctx context.Context, cluster *gocql.ClusterConfig, o MigrateOptions) error {
	session, err := adminCluster(cluster, o.LocalDC, "").CreateSession()
	if err != nil {
		return fmt.Errorf("cassandra: create keyspace %s: connect: %w", o.Keyspace, err)
	}
	defer session.Close()

	want := replicationMap(o.Replication)
	// CQL cannot bind identifiers or DDL options, so this one statement is
	// assembled; every piece is validated (keyspace and DC names are
	// checked against strict patterns by MigrateOptions.Validate).
	stmt := fmt.Sprintf("CREATE KEYSPACE IF NOT EXISTS %s WITH replication = %s AND durable_writes = true",
		o.Keyspace, cqlMapLiteral(want))
	if err := session.Query(stmt).WithContext(ctx).Exec(); err != nil {
		return fmt.Errorf("cassandra: create keyspace %s: %w", o.Keyspace, err)
	}
	if err := session.AwaitSchemaAgreement(ctx); err != nil {
		return fmt.Errorf("cassandra: create keyspace %s: await schema agreement: %w", o.Keyspace, err)
	}

	var have map[string]string
	err = session.Query(`SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?`, o.Keyspace).
		WithContext(ctx).Scan(&have)
	if err != nil {
		return fmt.Errorf("cassandra: read replication of keyspace %s: %w", o.Keyspace, err)
	}
	if !sameReplication(have, want) {
		o.Log.WarnContext(ctx, "keyspace replication differs from configuration; leaving it unchanged",
			"keyspace", o.Keyspace, "have", have, "want", want,
			"fix", "ALTER KEYSPACE with the wanted replication, then run a full repair")
	}
	return nil
}

// adminCluster copies cluster for one of Migrate's sessions, on keyspace,
// with a host selection policy of its own: schema changes need no token
// awareness, and gocql panics when a token-aware policy serves a second
// session.
func adminCluster(cluster *gocql.ClusterConfig, localDC, keyspace string) *gocql.ClusterConfig {
	c := *cluster
	c.Keyspace = keyspace
	c.PoolConfig.HostSelectionPolicy = localPolicy(localDC)
	return &c
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
