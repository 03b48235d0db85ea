package cassandra

import (
	"context"
	"fmt"

	"github.com/stickybucket/stickybucket/config"
)

// Open connects to the cluster cfg describes and returns a store for the
// active environment that owns its session: Close closes it. Open does not
// create the schema; run Migrate first.
func Open(cfg config.Config) (*Store, error) {
	env, err := cfg.Active()
	if err != nil {
		return nil, fmt.Errorf("cassandra: open: %w", err)
	}
	cluster, err := NewCluster(cfg.Cassandra, env)
	if err != nil {
		return nil, err
	}
	opts, err := StoreOptionsFor(env)
	if err != nil {
		return nil, err
	}
	opts.SpeculativeAfter = cfg.Cassandra.SpeculativeAfter.Std()
	session, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("cassandra: open: connect to %v: %w", cfg.Cassandra.Hosts, err)
	}
	s, err := NewStore(session, opts)
	if err != nil {
		session.Close()
		return nil, err
	}
	s.ownsSession = true
	return s, nil
}

// Close makes later calls fail with ups.ErrClosed and closes the session if
// Open created it; a session passed to NewStore stays the caller's to
// close. The store keeps no work of its own in the background: a call in
// flight ends with its own context.
func (s *Store) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.ownsSession {
		s.session.Close()
	}
	return nil
}
