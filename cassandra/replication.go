package cassandra

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Replication strategies a keyspace can be created with.
const (
	SimpleStrategy          = "SimpleStrategy"
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
)

// Replication is a keyspace's replication. The zero value is SimpleStrategy
// with one replica: a development keyspace on one node.
type Replication struct {
	// Class is SimpleStrategy or NetworkTopologyStrategy; empty means
	// NetworkTopologyStrategy when Datacenters is set, SimpleStrategy
	// otherwise.
	Class string
	// ReplicationFactor is SimpleStrategy's number of replicas; 0 means 1.
	ReplicationFactor int
	// Datacenters maps each datacenter to its number of replicas, for
	// NetworkTopologyStrategy.
	Datacenters map[string]int
}

// withDefaults fills in what the zero value means.
func (r Replication) withDefaults() Replication {
	if r.Class == "" {
		r.Class = SimpleStrategy
		if len(r.Datacenters) > 0 {
			r.Class = NetworkTopologyStrategy
		}
	}
	if r.Class == SimpleStrategy && r.ReplicationFactor == 0 {
		r.ReplicationFactor = 1
	}
	return r
}

// Validate reports every problem of r at once.
func (r Replication) Validate() error {
	r = r.withDefaults()
	var errs []error
	switch r.Class {
	case SimpleStrategy:
		if r.ReplicationFactor < 1 {
			errs = append(errs, fmt.Errorf("replication factor %d: must be at least 1", r.ReplicationFactor))
		}
		if len(r.Datacenters) > 0 {
			errs = append(errs, fmt.Errorf("datacenters are only used with %s", NetworkTopologyStrategy))
		}
	case NetworkTopologyStrategy:
		if len(r.Datacenters) == 0 {
			errs = append(errs, errors.New("at least one datacenter is required"))
		}
		if r.ReplicationFactor != 0 {
			errs = append(errs, fmt.Errorf("replication factor is not used with %s; set a factor per datacenter", NetworkTopologyStrategy))
		}
		for _, dc := range slices.Sorted(maps.Keys(r.Datacenters)) {
			if err := ValidateDatacenter(dc); err != nil {
				errs = append(errs, err)
			}
			if r.Datacenters[dc] < 1 {
				errs = append(errs, fmt.Errorf("datacenter %q: replication factor must be at least 1", dc))
			}
		}
	default:
		errs = append(errs, fmt.Errorf("class %q is not %s or %s", r.Class, SimpleStrategy, NetworkTopologyStrategy))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cassandra: replication: %w", err)
	}
	return nil
}

// replicationMap is r as CREATE KEYSPACE takes it and system_schema
// reports it.
func replicationMap(r Replication) map[string]string {
	r = r.withDefaults()
	m := map[string]string{"class": r.Class}
	if r.Class == SimpleStrategy {
		m["replication_factor"] = strconv.Itoa(r.ReplicationFactor)
		return m
	}
	for dc, rf := range r.Datacenters {
		m[dc] = strconv.Itoa(rf)
	}
	return m
}

// replicationFactors maps each datacenter to its replication factor; for
// SimpleStrategy, the one factor counts for every datacenter together
// (under the name "").
func replicationFactors(r Replication) map[string]int {
	r = r.withDefaults()
	if r.Class == SimpleStrategy {
		return map[string]int{"": r.ReplicationFactor}
	}
	return r.Datacenters
}
