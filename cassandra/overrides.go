package cassandra

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/gocql/gocql"
	"github.com/scylladb/gocqlx/v2/qb"
	"github.com/scylladb/gocqlx/v2/table"

	"github.com/stickybucket/stickybucket/ups"
)

// overridesTable mirrors cql/schema_0002_overrides.cql.
const overridesTable = "overrides"

// OverridesOptions configures NewOverrides.
type OverridesOptions struct {
	// Keyspace holds the overrides table (see Migrate).
	Keyspace string
	// TTL is written as each row's TTL; zero means ups.DefaultOverrideTTL.
	TTL time.Duration
	// ReadConsistency and WriteConsistency default to LOCAL_QUORUM.
	ReadConsistency  gocql.Consistency
	WriteConsistency gocql.Consistency
	// Now stamps the writes; nil means time.Now.
	Now func() time.Time
}

// Overrides is a ups.Overrides in Cassandra: every server on the cluster
// honours an override set on any. Set and remove read the previous
// override and then write: two servers changing one user's override of
// one experiment at the same moment may both report the same previous
// one, and the write with the later timestamp wins.
type Overrides struct {
	session *gocql.Session
	opts    OverridesOptions
	closed  atomic.Bool
	overrideStatements
}

// overrideStatements are the CQL of Overrides, built once from table
// metadata; every value is a bind marker.
type overrideStatements struct {
	lookup, lookupOne, insert, delete string
}

func newOverrideStatements(keyspace string) (overrideStatements, error) {
	t := table.New(table.Metadata{
		Name:    keyspace + "." + overridesTable,
		Columns: []string{"scope", "user_id", "experiment_key", "variation_key"},
		PartKey: []string{"scope", "user_id"},
		SortKey: []string{"experiment_key"},
	})
	var o overrideStatements
	o.lookup, _ = t.SelectBuilder("experiment_key", "variation_key").Limit(ups.MaxUserOverrides).ToCql()
	o.lookupOne, _ = t.SelectBuilder("variation_key").Where(qb.Eq("experiment_key")).ToCql()
	var names []string
	o.insert, names = t.InsertBuilder().TTLNamed("ttl").ToCql()
	if !slices.Equal(names, overrideInsertNames) {
		return overrideStatements{}, fmt.Errorf("insert statement binds %v, want %v", names, overrideInsertNames)
	}
	o.delete, _ = t.DeleteBuilder().ToCql()
	return o, nil
}

var _ ups.Overrides = (*Overrides)(nil)

// Column order of the insert's bind markers; SetOverride relies on it.
var overrideInsertNames = []string{"scope", "user_id", "experiment_key", "variation_key", "ttl"}

// NewOverrides returns the overrides of opts.Keyspace on an open session,
// which stays the caller's.
func NewOverrides(session *gocql.Session, opts OverridesOptions) (*Overrides, error) {
	if session == nil {
		return nil, errors.New("cassandra: new overrides: session is nil")
	}
	if err := ValidateKeyspace(opts.Keyspace); err != nil {
		return nil, fmt.Errorf("cassandra: new overrides: %w", err)
	}
	if opts.TTL == 0 {
		opts.TTL = ups.DefaultOverrideTTL
	}
	if err := ups.ValidateOverrideTTL(opts.TTL); err != nil {
		return nil, fmt.Errorf("cassandra: new overrides: %w", err)
	}
	if opts.ReadConsistency == 0 {
		opts.ReadConsistency = gocql.LocalQuorum
	}
	if opts.WriteConsistency == 0 {
		opts.WriteConsistency = gocql.LocalQuorum
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	stmts, err := newOverrideStatements(opts.Keyspace)
	if err != nil {
		return nil, fmt.Errorf("cassandra: new overrides: %w", err)
	}
	o := &Overrides{session: session, opts: opts, overrideStatements: stmts}
	return o, nil
}

// UserOverrides reads the user's partition of scope: one query, of at
// most ups.MaxUserOverrides rows.
func (o *Overrides) UserOverrides(ctx context.Context, scope, userID string) (map[string]string, error) {
	if o.closed.Load() {
		return nil, fmt.Errorf("cassandra: overrides of user %q: %w", userID, ups.ErrClosed)
	}
	iter := o.session.Query(o.lookup, scope, userID).WithContext(ctx).
		Consistency(o.opts.ReadConsistency).Idempotent(true).Iter()
	var (
		out      map[string]string
		exp, key string
	)
	for iter.Scan(&exp, &key) {
		if out == nil {
			out = map[string]string{}
		}
		out[exp] = key
	}
	if err := iter.Close(); err != nil {
		return nil, storeError(err, "cassandra: overrides of user %q", userID)
	}
	return out, nil
}

// SetOverride writes k's row with the TTL, after reading the one it
// replaces.
func (o *Overrides) SetOverride(ctx context.Context, k ups.OverrideKey, variationKey string) (string, bool, error) {
	if err := ups.ValidateOverride(k, variationKey); err != nil {
		return "", false, fmt.Errorf("cassandra: set override: %w", err)
	}
	prev, ok, err := o.read(ctx, k)
	if err != nil {
		return "", false, err
	}
	err = o.session.Query(o.insert, k.Scope, k.UserID, k.ExperimentKey, variationKey, ups.TTLSeconds(o.opts.TTL)).
		WithContext(ctx).Consistency(o.opts.WriteConsistency).
		WithTimestamp(o.opts.Now().UnixMicro()).Idempotent(true).Exec()
	if err != nil {
		return "", false, storeError(err, "cassandra: set override of user %q experiment %q", k.UserID, k.ExperimentKey)
	}
	return prev, ok, nil
}

// RemoveOverride deletes k's row, after reading it.
func (o *Overrides) RemoveOverride(ctx context.Context, k ups.OverrideKey) (string, bool, error) {
	if err := k.Validate(); err != nil {
		return "", false, fmt.Errorf("cassandra: remove override: %w", err)
	}
	prev, ok, err := o.read(ctx, k)
	if err != nil || !ok {
		return "", false, err
	}
	err = o.session.Query(o.delete, k.Scope, k.UserID, k.ExperimentKey).
		WithContext(ctx).Consistency(o.opts.WriteConsistency).
		WithTimestamp(o.opts.Now().UnixMicro()).Idempotent(true).Exec()
	if err != nil {
		return "", false, storeError(err, "cassandra: remove override of user %q experiment %q", k.UserID, k.ExperimentKey)
	}
	return prev, ok, nil
}

func (o *Overrides) read(ctx context.Context, k ups.OverrideKey) (string, bool, error) {
	if o.closed.Load() {
		return "", false, fmt.Errorf("cassandra: override of user %q: %w", k.UserID, ups.ErrClosed)
	}
	var key string
	err := o.session.Query(o.lookupOne, k.Scope, k.UserID, k.ExperimentKey).WithContext(ctx).
		Consistency(o.opts.ReadConsistency).Idempotent(true).Scan(&key)
	if errors.Is(err, gocql.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, storeError(err, "cassandra: override of user %q experiment %q", k.UserID, k.ExperimentKey)
	}
	return key, true, nil
}

// Close makes later calls fail with ups.ErrClosed; the session stays the
// caller's. Idempotent.
func (o *Overrides) Close(ctx context.Context) error {
	o.closed.Store(true)
	return nil
}
