package cassandra

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/config"
)

// NewCluster turns the connection settings and an environment into a gocql
// cluster configuration. Routing is token-aware, so a lookup goes straight
// to a replica of the user's partition, and DC-aware when the environment
// names a local DC, so a multi-region fleet reads and writes in its own
// region.
//
// With a local DC and a LOCAL_* consistency, the session connects to the
// local DC's nodes only (a host filter), so neither a query nor its retries
// can reach a coordinator in another region, where LOCAL_QUORUM would mean
// that region's quorum: a read could miss what this region just wrote, and
// the local outage would go unseen. env.RemoteDCFallback opts out: remote
// nodes are then tried after every local one.
func NewCluster(conn config.Connection, env config.Environment) (*gocql.ClusterConfig, error) {
	write, err := ParseConsistency(env.WriteConsistency)
	if err != nil {
		return nil, fmt.Errorf("cassandra: write_consistency: %w", err)
	}
	c := gocql.NewCluster(conn.Hosts...)
	c.Port = conn.Port
	c.Keyspace = env.Keyspace
	c.Consistency = write
	if d := conn.ConnectTimeout.Std(); d > 0 {
		c.ConnectTimeout = d
	}
	if d := conn.Timeout.Std(); d > 0 {
		c.Timeout = d
	}
	if conn.Username != "" {
		c.Authenticator = gocql.PasswordAuthenticator{Username: conn.Username, Password: conn.Password}
	}
	if conn.TLS.Enabled {
		c.SslOpts = &gocql.SslOptions{
			CaPath:                 conn.TLS.CAFile,
			CertPath:               conn.TLS.CertFile,
			KeyPath:                conn.TLS.KeyFile,
			EnableHostVerification: !conn.TLS.InsecureSkipVerify,
		}
	}
	c.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(localPolicy(env.LocalDC), gocql.ShuffleReplicas())
	if LocalOnly(env) {
		c.HostFilter = gocql.DataCentreHostFilter(env.LocalDC)
	}
	c.Logger = NewLogger(nil, LogOptions{Level: LogLevel(conn.LogLevel)})
	// Every statement the store sends is idempotent, so a timed-out or
	// failed attempt can be retried on the next replica.
	c.RetryPolicy = &gocql.ExponentialBackoffRetryPolicy{NumRetries: 2, Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	return c, nil
}

// LocalOnly reports whether sessions for env keep to its local DC: it
// names one, reads or writes at a LOCAL_* consistency, and does not allow
// remote fallback.
func LocalOnly(env config.Environment) bool {
	if env.LocalDC == "" || env.RemoteDCFallback {
		return false
	}
	return strings.HasPrefix(env.ReadConsistency, "LOCAL_") || strings.HasPrefix(env.WriteConsistency, "LOCAL_")
}

// LogLevel is the level gocql's messages are logged at: the configured
// one, warn when none is.
func LogLevel(name string) slog.Level {
	level := slog.LevelWarn
	if name != "" {
		_ = level.UnmarshalText([]byte(name))
	}
	return level
}

// localPolicy picks coordinators round-robin, in localDC when it is set.
// gocql lets a policy object serve one session only, so every session gets
// a new one.
func localPolicy(localDC string) gocql.HostSelectionPolicy {
	if localDC != "" {
		return gocql.DCAwareRoundRobinPolicy(localDC)
	}
	return gocql.RoundRobinHostPolicy()
}

// ParseConsistency maps a configured level such as LOCAL_QUORUM to gocql's.
func ParseConsistency(s string) (gocql.Consistency, error) {
	var c gocql.Consistency
	if err := c.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown consistency level %q", s)
	}
	return c, nil
}

// StoreOptionsFor derives store options from an environment.
func StoreOptionsFor(env config.Environment) (StoreOptions, error) {
	read, err := ParseConsistency(env.ReadConsistency)
	if err != nil {
		return StoreOptions{}, fmt.Errorf("cassandra: read_consistency: %w", err)
	}
	write, err := ParseConsistency(env.WriteConsistency)
	if err != nil {
		return StoreOptions{}, fmt.Errorf("cassandra: write_consistency: %w", err)
	}
	serial := gocql.Serial
	if env.SerialConsistency == "LOCAL_SERIAL" {
		serial = gocql.LocalSerial
	}
	return StoreOptions{
		Keyspace:          env.Keyspace,
		Retention:         env.RetentionPolicy(),
		ReadConsistency:   read,
		WriteConsistency:  write,
		SerialConsistency: serial,
	}, nil
}
