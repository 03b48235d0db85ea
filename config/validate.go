package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

const (
	defaultConnectTimeout = 5 * time.Second
	defaultTimeout        = 2 * time.Second
	defaultKeyspace       = "stickybucket"
	defaultConsistency    = "LOCAL_QUORUM"

	SimpleStrategy          = "SimpleStrategy"
	NetworkTopologyStrategy = "NetworkTopologyStrategy"
)

// Consistencies lists the consistency levels accepted for reads and writes.
// ANY and EACH_QUORUM are left out: ANY cannot serve reads and loses data on
// a failed node, and EACH_QUORUM ties a write's latency to the farthest
// region, which defeats a multi-region fleet.
var Consistencies = []string{"ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "LOCAL_ONE"}

// keyspaceName matches what Cassandra accepts as an unquoted keyspace name.
// The name ends up in DDL (CQL cannot bind identifiers), so it must never be
// anything else.
var keyspaceName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// dcName keeps datacenter names to what snitches produce; they are written
// into the replication map of CREATE KEYSPACE.
var dcName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)

func (c *Config) fillDefaults() {
	for name, env := range c.Environments {
		if env.Keyspace == "" {
			env.Keyspace = defaultKeyspace
		}
		if env.ReadConsistency == "" {
			env.ReadConsistency = defaultConsistency
		}
		if env.WriteConsistency == "" {
			env.WriteConsistency = defaultConsistency
		}
		env.ReadConsistency = strings.ToUpper(env.ReadConsistency)
		env.WriteConsistency = strings.ToUpper(env.WriteConsistency)
		c.Environments[name] = env
	}
	if c.Cassandra.Port == 0 {
		c.Cassandra.Port = 9042
	}
	if c.Cassandra.ConnectTimeout == 0 {
		c.Cassandra.ConnectTimeout = Duration(defaultConnectTimeout)
	}
	if c.Cassandra.Timeout == 0 {
		c.Cassandra.Timeout = Duration(defaultTimeout)
	}
}

// Validate reports every problem at once, each prefixed with the YAML key
// it concerns, so one edit fixes a file.
func (c Config) Validate() error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if len(c.Environments) == 0 {
		add("environments", "at least one environment is required")
	} else if _, ok := c.Environments[c.Environment]; !ok {
		add("environment", "%q is not one of the defined environments (%s)", c.Environment, strings.Join(sortedKeys(c.Environments), ", "))
	}
	errs = append(errs, c.Cassandra.validate()...)
	for _, name := range sortedKeys(c.Environments) {
		errs = append(errs, c.Environments[name].validate("environments."+name)...)
		errs = append(errs, c.Environments[name].validatePolicies("environments."+name)...)
	}
	errs = append(errs, c.validateService()...)
	return errors.Join(errs...)
}

func (c Connection) validate() []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("cassandra.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if len(c.Hosts) == 0 {
		add("hosts", "at least one contact point is required")
	}
	for i, h := range c.Hosts {
		if strings.TrimSpace(h) == "" {
			add(fmt.Sprintf("hosts[%d]", i), "empty host")
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		add("port", "%d is not a TCP port", c.Port)
	}
	if c.ConnectTimeout < 0 {
		add("connect_timeout", "must not be negative")
	}
	if c.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	if c.Password != "" && c.Username == "" {
		add("username", "required when a password is set")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		add("tls", "cert_file and key_file must be set together")
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "") {
		add("tls.enabled", "TLS files are set but tls.enabled is false")
	}
	return errs
}

func (e Environment) validate(prefix string) []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	if err := (ups.Retention{Default: e.Retention.Std()}).Validate(); err != nil {
		add("retention", "%v", errors.Unwrap(err))
	}
	for _, expID := range sortedKeys(e.RetentionOverrides) {
		key := fmt.Sprintf("retention_overrides[%q]", expID)
		if expID == "" {
			add(key, "experiment ID is empty")
			continue
		}
		if err := (ups.Retention{Default: e.RetentionOverrides[expID].Std()}).Validate(); err != nil {
			add(key, "%v", errors.Unwrap(err))
		}
	}
	if err := ValidateKeyspace(e.Keyspace); err != nil {
		add("keyspace", "%v", err)
	}
	for _, f := range [...]struct{ key, cl string }{
		{"read_consistency", e.ReadConsistency},
		{"write_consistency", e.WriteConsistency},
	} {
		if !slices.Contains(Consistencies, f.cl) {
			add(f.key, "%q is not one of %s", f.cl, strings.Join(Consistencies, ", "))
		}
	}
	if e.LocalDC != "" && !dcName.MatchString(e.LocalDC) {
		add("local_dc", "%q is not a valid datacenter name", e.LocalDC)
	}
	errs = append(errs, e.Replication.validate(prefix+".replication", e.LocalDC)...)
	return errs
}

func (r Replication) validate(prefix, localDC string) []error {
	var errs []error
	add := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", prefix, key, fmt.Sprintf(format, args...)))
	}
	switch r.Class {
	case SimpleStrategy:
		if r.ReplicationFactor < 1 {
			add(".replication_factor", "must be at least 1")
		}
		if len(r.Datacenters) > 0 {
			add(".datacenters", "only used with %s", NetworkTopologyStrategy)
		}
	case NetworkTopologyStrategy:
		if len(r.Datacenters) == 0 {
			add(".datacenters", "at least one datacenter is required")
		}
		if r.ReplicationFactor != 0 {
			add(".replication_factor", "not used with %s; set a factor per datacenter", NetworkTopologyStrategy)
		}
		for _, dc := range sortedKeys(r.Datacenters) {
			if !dcName.MatchString(dc) {
				add(fmt.Sprintf(".datacenters[%q]", dc), "not a valid datacenter name")
			}
			if r.Datacenters[dc] < 1 {
				add(fmt.Sprintf(".datacenters[%q]", dc), "replication factor must be at least 1")
			}
		}
		// With a multi-DC keyspace a process must know its own region, or
		// LOCAL_* consistency and DC-aware routing pick an arbitrary one.
		if localDC == "" {
			add("", "local_dc must be set with %s", NetworkTopologyStrategy)
		} else if _, ok := r.Datacenters[localDC]; !ok && len(r.Datacenters) > 0 {
			add("", "local_dc %q has no replicas (datacenters: %s)", localDC, strings.Join(sortedKeys(r.Datacenters), ", "))
		}
	case "":
		add(".class", "required: %s or %s", SimpleStrategy, NetworkTopologyStrategy)
	default:
		add(".class", "%q is not %s or %s", r.Class, SimpleStrategy, NetworkTopologyStrategy)
	}
	return errs
}

// ValidateKeyspace checks that name is an unquoted Cassandra keyspace name.
func ValidateKeyspace(name string) error {
	if !keyspaceName.MatchString(name) {
		return fmt.Errorf("%q is not a valid keyspace name (a letter, then up to 47 letters, digits or underscores)", name)
	}
	return nil
}

// ValidateDatacenter checks that name looks like a datacenter name a snitch
// produces.
func ValidateDatacenter(name string) error {
	if !dcName.MatchString(name) {
		return fmt.Errorf("%q is not a valid datacenter name", name)
	}
	return nil
}

// Validate checks one environment on its own, for code that builds an
// Environment without a whole Config.
func (e Environment) Validate() error {
	return errors.Join(e.validate("environment")...)
}

// RetentionPolicy converts the environment's retention settings for a store.
func (e Environment) RetentionPolicy() ups.Retention {
	r := ups.Retention{Default: e.Retention.Std()}
	if len(e.RetentionOverrides) > 0 {
		r.PerExperiment = make(map[string]time.Duration, len(e.RetentionOverrides))
		for id, d := range e.RetentionOverrides {
			r.PerExperiment[id] = d.Std()
		}
	}
	return r
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
