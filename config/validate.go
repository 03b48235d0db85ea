package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/ups"
)

const (
	defaultConnectTimeout = 5 * time.Second
	defaultTimeout        = 2 * time.Second
	// defaultSpeculativeAfter is above a loopback cluster's p99 round trip
	// (tens of ms on two busy cores) and well below the timeout.
	defaultSpeculativeAfter = 100 * time.Millisecond
	defaultKeyspace         = "stickybucket"
	defaultConsistency      = "LOCAL_QUORUM"
)

// Replication classes, as package cassandra names them.
const (
	SimpleStrategy          = cassandra.SimpleStrategy
	NetworkTopologyStrategy = cassandra.NetworkTopologyStrategy
)

// Consistencies lists the consistency levels accepted for reads and writes.
// ANY and EACH_QUORUM are left out: ANY cannot serve reads and loses data on
// a failed node, and EACH_QUORUM ties a write's latency to the farthest
// region, which defeats a multi-region fleet.
var Consistencies = []string{"ONE", "TWO", "THREE", "QUORUM", "ALL", "LOCAL_QUORUM", "LOCAL_ONE"}

// Bounds of the connection timeouts. Below a millisecond every query
// would fail; beyond ten minutes a stuck node holds callers (and their
// decisions) for longer than any caller waits.
const (
	MinTimeout = time.Millisecond
	MaxTimeout = 10 * time.Minute
)

// normalize puts values in canonical form: consistency levels in upper
// case. It never supplies a value that was not given.
func (c *Config) normalize() {
	for name, env := range c.Environments {
		env.ReadConsistency = strings.ToUpper(env.ReadConsistency)
		env.WriteConsistency = strings.ToUpper(env.WriteConsistency)
		env.SerialConsistency = strings.ToUpper(env.SerialConsistency)
		c.Environments[name] = env
	}
}

// problems collects validation errors, each prefixed with the YAML key it
// concerns and, when an environment variable set that key (or the list or
// section holding it), the variable.
type problems struct {
	errs    []error
	keys    []string // the key of each error
	sources map[string]string
}

func (p *problems) add(key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for k := key; k != ""; k = parentPath(k) {
		if v := p.sources[k]; v != "" {
			msg += " (set by " + v + ")"
			break
		}
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s", key, msg))
	p.keys = append(p.keys, key)
}

// except returns the problems but those about the keys in failed (whose
// values were refused before validation, and kept their defaults), their
// parents and children, or naming one of them.
func (p *problems) except(failed []string) []error {
	var out []error
	for i, err := range p.errs {
		if !slices.ContainsFunc(failed, func(f string) bool {
			return related(p.keys[i], f) || mentions(err.Error(), f)
		}) {
			out = append(out, err)
		}
	}
	return out
}

// mentions reports whether msg names the key path, whole: "environment"
// is not named by "environments.development".
func mentions(msg, path string) bool {
	word := func(c byte) bool {
		return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for i := 0; path != "" && i <= len(msg)-len(path); i++ {
		j := strings.Index(msg[i:], path)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(path)
		if (start == 0 || !word(msg[start-1]) && msg[start-1] != '.') && (end == len(msg) || !word(msg[end])) {
			return true
		}
		i = start
	}
	return false
}

// related reports whether one of the key paths a and b holds the other.
func related(a, b string) bool {
	within := func(child, parent string) bool {
		return parent == "" || child == parent ||
			strings.HasPrefix(child, parent) && (child[len(parent)] == '.' || child[len(parent)] == '[')
	}
	return within(a, b) || within(b, a)
}

// parentPath is the path of the key or list holding path's last key or
// item, "" at the top: server.tokens[0] → server.tokens → server.
func parentPath(path string) string {
	b := boundaries(path)
	if len(b) < 2 {
		return ""
	}
	return path[:b[len(b)-2]]
}

// Validate reports every problem at once, each prefixed with the YAML key
// it concerns, so one edit fixes a file.
//
// The keys only the Cassandra store uses are required only with it
// (store.kind: cassandra, and the migrate and profiles commands, which set
// it): an environment, and its replication. The in-memory store works
// without any environment (see Active).
func (c Config) Validate() error {
	p := &problems{sources: c.sources}
	c.validate(p)
	return joinProblems(p.errs)
}

func (c Config) validate(p *problems) {
	cassandra := c.Store.Kind == StoreCassandra
	onlyDefault := c.onlyDefaultEnvironment()
	switch {
	case onlyDefault && cassandra:
		p.add("environments", "at least one environment is required with the Cassandra store, to name its keyspace and replication")
	case len(c.Environments) == 0:
		if c.Environment != DefaultEnvironment {
			p.add("environment", "%q is not defined: environments is empty, and then only %q exists (the in-memory store's default)", clipValue(c.Environment), DefaultEnvironment)
		}
	default:
		if _, ok := c.Environments[c.Environment]; !ok {
			p.add("environment", "%q is not one of the defined environments (%s)", clipValue(c.Environment), clipValue(strings.Join(sortedKeys(c.Environments), ", ")))
		}
	}
	c.Cassandra.validate(p)
	for _, name := range sortedKeys(c.Environments) {
		if name == "" {
			p.add("environments", "an environment name is empty")
			continue
		}
		c.Environments[name].validate(p, "environments."+clipValue(name), cassandra && !onlyDefault)
		c.Environments[name].validatePolicies(p, "environments."+clipValue(name))
	}
	c.validateService(p)
}

// maxProblems bounds how many problems one error lists, so a hostile file
// of a megabyte of bad keys cannot produce megabytes of message.
const maxProblems = 20

// joinProblems joins errs, listing at most maxProblems of them.
func joinProblems(errs []error) error {
	if len(errs) > maxProblems {
		errs = append(errs[:maxProblems:maxProblems], fmt.Errorf("… and %d more problems", len(errs)-maxProblems))
	}
	return errors.Join(errs...)
}

func (c Connection) validate(p *problems) {
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		p.add("cassandra.log_level", "%q is not debug, info, warn or error", clipValue(c.LogLevel))
	}
	const prefix = "cassandra."
	if len(c.Hosts) == 0 {
		p.add(prefix+"hosts", "at least one contact point is required")
	}
	for i, h := range c.Hosts {
		if strings.TrimSpace(h) == "" {
			p.add(fmt.Sprintf(prefix+"hosts[%d]", i), "empty host")
		}
	}
	if c.Port < 1 || c.Port > 65535 {
		p.add(prefix+"port", "%d is not a TCP port (1-65535)", c.Port)
	}
	for _, t := range [...]struct {
		key string
		d   Duration
	}{{"connect_timeout", c.ConnectTimeout}, {"timeout", c.Timeout}} {
		if d := t.d.Std(); d < MinTimeout || d > MaxTimeout {
			p.add(prefix+t.key, "%v is outside %v to %v", d, MinTimeout, MaxTimeout)
		}
	}
	if t := c.Timeout.Std(); t < MinTimeout || t > MaxTimeout {
		// Reported above; speculative_after is checked against a valid one.
	} else if d := c.SpeculativeAfter.Std(); d != 0 && (d < MinTimeout || d >= t) {
		p.add(prefix+"speculative_after", "%v is outside %v to the query timeout (%v); 0 turns it off", d, MinTimeout, c.Timeout.Std())
	}
	if c.Password != "" && c.Username == "" {
		p.add(prefix+"username", "required when a password is set")
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		p.add(prefix+"tls", "cert_file and key_file must be set together")
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "") {
		p.add(prefix+"tls.enabled", "TLS files are set but tls.enabled is false")
	}
}

// validate checks an environment's keys; requireReplication says whether
// a replication must be written (the Cassandra store's keyspace needs
// one). A replication written is checked either way.
func (e Environment) validate(p *problems, prefix string, requireReplication bool) {
	add := func(key, format string, args ...any) { p.add(prefix+"."+key, format, args...) }
	if err := (ups.Retention{Default: e.Retention.Std()}).Validate(); err != nil {
		add("retention", "%v", errors.Unwrap(err))
	}
	for _, expID := range sortedKeys(e.RetentionOverrides) {
		key := fmt.Sprintf("retention_overrides[%q]", clipValue(expID))
		if expID == "" {
			add(key, "experiment ID is empty")
			continue
		}
		if err := (ups.Retention{Default: e.RetentionOverrides[expID].Std()}).Validate(); err != nil {
			add(key, "%v", errors.Unwrap(err))
		}
	}
	// Keyspace and datacenter names follow package cassandra's rules: they
	// end up in CQL statements, which cannot bind identifiers.
	if err := cassandra.ValidateKeyspace(e.Keyspace); err != nil {
		add("keyspace", "%v", err)
	}
	for _, f := range [...]struct{ key, cl string }{
		{"read_consistency", e.ReadConsistency},
		{"write_consistency", e.WriteConsistency},
	} {
		if !slices.Contains(Consistencies, f.cl) {
			add(f.key, "%q is not one of %s", clipValue(f.cl), strings.Join(Consistencies, ", "))
		}
	}
	if e.LocalDC != "" {
		if err := cassandra.ValidateDatacenter(e.LocalDC); err != nil {
			add("local_dc", "%v", err)
		}
	}
	if r := e.Replication; requireReplication || r.Class != "" || r.ReplicationFactor != 0 || len(r.Datacenters) > 0 {
		e.Replication.validate(p, prefix+".replication", e.LocalDC)
	}
}

func (r Replication) validate(p *problems, prefix, localDC string) {
	add := func(key, format string, args ...any) { p.add(prefix+key, format, args...) }
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
			key := fmt.Sprintf(".datacenters[%q]", clipValue(dc))
			if cassandra.ValidateDatacenter(dc) != nil {
				add(key, "not a valid datacenter name")
			}
			if r.Datacenters[dc] < 1 {
				add(key, "replication factor must be at least 1")
			}
		}
		// With a multi-DC keyspace a process must know its own region, or
		// LOCAL_* consistency and DC-aware routing pick an arbitrary one.
		if localDC == "" {
			add("", "local_dc must be set with %s", NetworkTopologyStrategy)
		} else if _, ok := r.Datacenters[localDC]; !ok && len(r.Datacenters) > 0 {
			add("", "local_dc %q has no replicas (datacenters: %s)", clipValue(localDC), clipValue(strings.Join(sortedKeys(r.Datacenters), ", ")))
		}
	case "":
		add(".class", "required with the Cassandra store: %s or %s", SimpleStrategy, NetworkTopologyStrategy)
	default:
		add(".class", "%q is not %s or %s", clipValue(r.Class), SimpleStrategy, NetworkTopologyStrategy)
	}
}

// Validate checks one environment on its own, for code that builds an
// Environment without a whole Config, as the Cassandra store needs it
// (with a replication).
func (e Environment) Validate() error {
	p := &problems{}
	e.validate(p, "environment", true)
	return joinProblems(p.errs)
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
