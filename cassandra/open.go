package cassandra

import (
	"fmt"

	"github.com/stickybucket/stickybucket/config"
)

// Open connects to the cluster cfg describes and returns a store for the
// active environment. The caller owns the store and must Close it.
// Open does not create the schema; run Migrate first.
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

// Close closes the session if Open created it; a session passed to NewStore
// stays the caller's to close.
func (s *Store) Close() {
	if s.ownsSession {
		s.session.Close()
	}
}
