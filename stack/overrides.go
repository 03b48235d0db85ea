package stack

import (
	"fmt"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/ups"
)

// openOverrides builds the store of forced variations when
// server.overrides.enabled: Cassandra's overrides table on the stack's
// session (shared by every server on the cluster), or memory (this
// process's) when the profiles are not in Cassandra.
func (s *Stack) openOverrides(opts Options) error {
	o := s.cfg.Server.Overrides
	if !o.Enabled {
		return nil
	}
	if s.session == nil {
		m, err := ups.NewMemoryOverrides(ups.MemoryOverridesOptions{TTL: o.TTL.Std(), Now: opts.Now})
		if err != nil {
			return fmt.Errorf("stack: overrides: %w", err)
		}
		s.Overrides = m
		return nil
	}
	storeOpts, err := CassandraStoreOptions(s.env)
	if err != nil {
		return fmt.Errorf("stack: overrides: %w", err)
	}
	c, err := cassandra.NewOverrides(s.session, cassandra.OverridesOptions{
		Keyspace:         s.env.Keyspace,
		TTL:              o.TTL.Std(),
		ReadConsistency:  storeOpts.ReadConsistency,
		WriteConsistency: storeOpts.WriteConsistency,
		Now:              opts.Now,
	})
	if err != nil {
		return fmt.Errorf("stack: overrides: %w", err)
	}
	s.Overrides = c
	return nil
}
