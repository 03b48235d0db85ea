package cassandra

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// ClusterOptions says how to reach a cluster and how its sessions route
// statements. The zero value reaches 127.0.0.1:9042 with gocql's timeouts,
// without authentication or TLS, and reads and writes at LOCAL_QUORUM.
type ClusterOptions struct {
	// Hosts are the contact points; none means 127.0.0.1.
	Hosts []string
	// Port is the native protocol port; 0 means 9042.
	Port int
	// ConnectTimeout bounds opening a connection and Timeout one attempt
	// of a statement; 0 keeps gocql's (11s each).
	ConnectTimeout time.Duration
	Timeout        time.Duration
	// Username and Password log in with Cassandra's password
	// authenticator when Username is set.
	Username string
	Password string
	// TLS, when set, encrypts every connection.
	TLS *TLSOptions
	// Keyspace is the sessions' keyspace: it must exist before a session
	// opens (see Migrate). Empty: none; the store names its keyspace in
	// every statement anyway.
	Keyspace string
	// LocalDC is the datacenter whose nodes coordinate first and that
	// LOCAL_* levels refer to. Empty: every node, round robin.
	LocalDC string
	// ReadConsistency and WriteConsistency are the levels the store reads
	// and writes at (StoreOptions has the same two): sessions default to
	// WriteConsistency, and a LOCAL_* level in either keeps sessions to
	// LocalDC (see LocalOnly). Zero means LOCAL_QUORUM.
	ReadConsistency  gocql.Consistency
	WriteConsistency gocql.Consistency
	// RemoteDCFallback lets sessions that would keep to LocalDC try the
	// nodes of other datacenters after every local one.
	RemoteDCFallback bool
	// Log receives gocql's messages at LogLevel, rate-limited (see
	// Logger); nil means slog.Default(). The zero LogLevel is
	// slog.LevelInfo.
	Log      *slog.Logger
	LogLevel slog.Level
}

// TLSOptions are the files of a TLS connection to the cluster.
type TLSOptions struct {
	// CAFile verifies the nodes' certificates; empty uses the system's
	// roots.
	CAFile string
	// CertFile and KeyFile, both or neither, are the client's certificate.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify does not check that a node's certificate names
	// it.
	InsecureSkipVerify bool
}

// withDefaults fills in what the zero values mean.
func (o ClusterOptions) withDefaults() ClusterOptions {
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"127.0.0.1"}
	}
	if o.Port == 0 {
		o.Port = 9042
	}
	if o.ReadConsistency == gocql.Any {
		o.ReadConsistency = gocql.LocalQuorum
	}
	if o.WriteConsistency == gocql.Any {
		o.WriteConsistency = gocql.LocalQuorum
	}
	return o
}

// Validate reports every problem of o at once.
func (o ClusterOptions) Validate() error {
	o = o.withDefaults()
	var errs []error
	for i, h := range o.Hosts {
		if strings.TrimSpace(h) == "" {
			errs = append(errs, fmt.Errorf("host %d is empty", i))
		}
	}
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d is not a TCP port (1-65535)", o.Port))
	}
	if o.ConnectTimeout < 0 || o.Timeout < 0 {
		errs = append(errs, fmt.Errorf("negative timeout (connect %s, statement %s)", o.ConnectTimeout, o.Timeout))
	}
	if o.Password != "" && o.Username == "" {
		errs = append(errs, errors.New("a password without a username"))
	}
	if o.TLS != nil && (o.TLS.CertFile == "") != (o.TLS.KeyFile == "") {
		errs = append(errs, errors.New("TLS: a certificate and its key are set together"))
	}
	if o.Keyspace != "" {
		if err := ValidateKeyspace(o.Keyspace); err != nil {
			errs = append(errs, err)
		}
	}
	if o.LocalDC != "" {
		if err := ValidateDatacenter(o.LocalDC); err != nil {
			errs = append(errs, fmt.Errorf("local DC: %w", err))
		}
	}
	for _, c := range []struct {
		op    string
		level gocql.Consistency
	}{{"read", o.ReadConsistency}, {"write", o.WriteConsistency}} {
		if strings.HasPrefix(c.level.String(), "UNKNOWN") {
			errs = append(errs, fmt.Errorf("%s consistency: %s", c.op, c.level))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cassandra: cluster options: %w", err)
	}
	return nil
}

// NewCluster returns the gocql cluster configuration o describes. Routing
// is token-aware, so a lookup goes straight to a replica of the user's
// partition, and DC-aware when o names a local DC, so a multi-region fleet
// reads and writes in its own region.
//
// With a local DC and a LOCAL_* consistency, the session connects to the
// local DC's nodes only (a host filter), so neither a statement nor its
// retries can reach a coordinator in another region, where LOCAL_QUORUM
// would mean that region's quorum: a read could miss what this region just
// wrote, and the local outage would go unseen. o.RemoteDCFallback opts
// out: remote nodes are then tried after every local one.
func NewCluster(o ClusterOptions) (*gocql.ClusterConfig, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	local := o.LocalOnly()
	o = o.withDefaults()
	c := gocql.NewCluster(o.Hosts...)
	c.Port = o.Port
	c.Keyspace = o.Keyspace
	c.Consistency = o.WriteConsistency
	if o.ConnectTimeout > 0 {
		c.ConnectTimeout = o.ConnectTimeout
	}
	if o.Timeout > 0 {
		c.Timeout = o.Timeout
	}
	if o.Username != "" {
		c.Authenticator = gocql.PasswordAuthenticator{Username: o.Username, Password: o.Password}
	}
	if o.TLS != nil {
		c.SslOpts = &gocql.SslOptions{
			CaPath:                 o.TLS.CAFile,
			CertPath:               o.TLS.CertFile,
			KeyPath:                o.TLS.KeyFile,
			EnableHostVerification: !o.TLS.InsecureSkipVerify,
		}
	}
	c.PoolConfig.HostSelectionPolicy = gocql.TokenAwareHostPolicy(localPolicy(o.LocalDC), gocql.ShuffleReplicas())
	if local {
		c.HostFilter = gocql.DataCentreHostFilter(o.LocalDC)
	}
	c.Logger = NewLogger(o.Log, LogOptions{Level: o.LogLevel})
	// Every statement the store sends is idempotent, so a timed-out or
	// failed attempt can be retried on the next replica.
	c.RetryPolicy = &gocql.ExponentialBackoffRetryPolicy{NumRetries: 2, Min: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	return c, nil
}

// LocalOnly reports whether sessions keep to o's local DC: o names one,
// reads or writes at a LOCAL_* consistency, and does not allow remote
// fallback.
func (o ClusterOptions) LocalOnly() bool {
	if o.LocalDC == "" || o.RemoteDCFallback {
		return false
	}
	o = o.withDefaults()
	return isLocal(o.ReadConsistency) || isLocal(o.WriteConsistency)
}

// isLocal reports whether level counts replicas of the local datacenter
// only.
func isLocal(level gocql.Consistency) bool {
	return level == gocql.LocalQuorum || level == gocql.LocalOne
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

// ParseConsistency maps a level such as LOCAL_QUORUM to gocql's.
func ParseConsistency(s string) (gocql.Consistency, error) {
	var c gocql.Consistency
	if err := c.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("unknown consistency level %q", s)
	}
	return c, nil
}
