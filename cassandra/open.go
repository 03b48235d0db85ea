package cassandra

import (
	"context"
	"errors"
	"fmt"

	"github.com/gocql/gocql"
)

// Open connects with cluster (see NewCluster) and returns a store on a
// session of its own: Close closes it. Open does not create the schema;
// run Migrate first.
func Open(cluster *gocql.ClusterConfig, opts StoreOptions) (*Store, error) {
	if cluster == nil {
		return nil, errors.New("cassandra: open: cluster is nil")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("cassandra: open: %w", err)
	}
	session, err := cluster.CreateSession()
	if err != nil {
		return nil, fmt.Errorf("cassandra: open: connect to %v: %w", cluster.Hosts, err)
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
// flight ends with its own context. Close is idempotent: a second call
// does nothing and returns nil.
func (s *Store) Close(ctx context.Context) error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.ownsSession {
		s.session.Close()
	}
	return nil
}
