package config

import (
	"fmt"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment variable the configuration reads.
const EnvPrefix = "STICKYBUCKET_"

// envOverride maps one environment variable onto the configuration. The
// variables that change the selected environment's settings apply after
// STICKYBUCKET_ENVIRONMENT has picked it.
type envOverride struct {
	name  string
	key   string // the YAML key it overrides, for error messages
	apply func(c *Config, v string) error
}

var envOverrides = []envOverride{
	{"ENVIRONMENT", "environment", func(c *Config, v string) error { c.Environment = v; return nil }},
	{"CASSANDRA_HOSTS", "cassandra.hosts", func(c *Config, v string) error {
		c.Cassandra.Hosts = splitList(v)
		return nil
	}},
	{"CASSANDRA_PORT", "cassandra.port", func(c *Config, v string) error {
		p, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not a port number: %q", clipValue(v))
		}
		c.Cassandra.Port = p
		return nil
	}},
	{"CASSANDRA_USERNAME", "cassandra.username", func(c *Config, v string) error { c.Cassandra.Username = v; return nil }},
	{"CASSANDRA_PASSWORD", "cassandra.password", func(c *Config, v string) error { c.Cassandra.Password = v; return nil }},
	{"CASSANDRA_TLS_CA_FILE", "cassandra.tls.ca_file", func(c *Config, v string) error {
		c.Cassandra.TLS.Enabled, c.Cassandra.TLS.CAFile = true, v
		return nil
	}},
	{"CASSANDRA_TLS_CERT_FILE", "cassandra.tls.cert_file", func(c *Config, v string) error {
		c.Cassandra.TLS.Enabled, c.Cassandra.TLS.CertFile = true, v
		return nil
	}},
	{"CASSANDRA_TLS_KEY_FILE", "cassandra.tls.key_file", func(c *Config, v string) error {
		c.Cassandra.TLS.Enabled, c.Cassandra.TLS.KeyFile = true, v
		return nil
	}},
	{"RETENTION", "environments.<active>.retention", func(c *Config, v string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		return c.updateActive(func(e *Environment) { e.Retention = d })
	}},
	{"KEYSPACE", "environments.<active>.keyspace", func(c *Config, v string) error {
		return c.updateActive(func(e *Environment) { e.Keyspace = v })
	}},
	{"READ_CONSISTENCY", "environments.<active>.read_consistency", func(c *Config, v string) error {
		return c.updateActive(func(e *Environment) { e.ReadConsistency = v })
	}},
	{"WRITE_CONSISTENCY", "environments.<active>.write_consistency", func(c *Config, v string) error {
		return c.updateActive(func(e *Environment) { e.WriteConsistency = v })
	}},
	{"LOCAL_DC", "environments.<active>.local_dc", func(c *Config, v string) error {
		return c.updateActive(func(e *Environment) { e.LocalDC = v })
	}},
}

// EnvNames lists the environment variables the configuration reads, for
// documentation and usage messages.
func EnvNames() []string {
	names := make([]string, len(envOverrides))
	for i, o := range envOverrides {
		names[i] = EnvPrefix + o.name
	}
	return names
}

// applyEnv applies the variables that are set. A variable set to nothing
// (or only spaces) counts as unset: `FOO= cmd` and an empty entry in a
// container spec mean "no override", not "override with nothing".
func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) error {
	for _, o := range envOverrides {
		name := EnvPrefix + o.name
		v, ok := lookupEnv(name)
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			continue
		}
		if err := o.apply(c, v); err != nil {
			return fmt.Errorf("%s (overrides %s): %w", name, o.key, err)
		}
		if c.sources == nil {
			c.sources = map[string]string{}
		}
		c.sources[strings.ReplaceAll(o.key, "<active>", c.Environment)] = name
	}
	return nil
}

func (c *Config) updateActive(f func(*Environment)) error {
	env, ok := c.Environments[c.Environment]
	if !ok {
		return fmt.Errorf("environment %q is not defined under environments", c.Environment)
	}
	f(&env)
	c.Environments[c.Environment] = env
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
