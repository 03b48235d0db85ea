package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration file.
type Config struct {
	// Environment selects which entry of Environments is in force.
	Environment  string                 `yaml:"environment"`
	Cassandra    Connection             `yaml:"cassandra"`
	Environments map[string]Environment `yaml:"environments"`
	// Store, Server, Datafiles and Log configure the service
	// (`stickybucket serve`) and the admin commands.
	Store     Store            `yaml:"store"`
	Server    Server           `yaml:"server"`
	Datafiles []DatafileSource `yaml:"datafiles"`
	Log       Log              `yaml:"log"`
}

// Connection says how to reach the Cassandra cluster. It is shared by all
// environments because a process talks to one cluster; what differs per
// environment is how data is kept there.
type Connection struct {
	Hosts          []string `yaml:"hosts"`
	Port           int      `yaml:"port"`
	ConnectTimeout Duration `yaml:"connect_timeout"`
	Timeout        Duration `yaml:"timeout"`
	Username       string   `yaml:"username"`
	Password       string   `yaml:"password"`
	TLS            TLS      `yaml:"tls"`
}

// TLS holds client TLS files. Leave all empty for plaintext.
type TLS struct {
	Enabled            bool   `yaml:"enabled"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

// Environment is how one environment keeps its assignments.
type Environment struct {
	// Retention is how long an assignment stays sticky; 0 keeps it forever.
	Retention Duration `yaml:"retention"`
	// RetentionOverrides sets the retention of single experiments, keyed by
	// experiment ID.
	RetentionOverrides map[string]Duration `yaml:"retention_overrides"`
	Keyspace           string              `yaml:"keyspace"`
	Replication        Replication         `yaml:"replication"`
	ReadConsistency    string              `yaml:"read_consistency"`
	WriteConsistency   string              `yaml:"write_consistency"`
	// LocalDC is the datacenter this process prefers for coordinators and
	// that LOCAL_* consistency levels refer to.
	LocalDC string `yaml:"local_dc"`
	// RefreshAfter makes stickiness slide: a served assignment that expires
	// within it is saved again (decision.Options.RefreshAfter).
	RefreshAfter Duration `yaml:"refresh_after"`
	// Reset re-randomises experiments, keyed by experiment ID.
	Reset map[string]Reset `yaml:"reset"`
	// FirstWriterWins writes first assignments with lightweight
	// transactions, at SerialConsistency (SERIAL, the default, agrees
	// across datacenters; LOCAL_SERIAL within one).
	FirstWriterWins   bool   `yaml:"first_writer_wins"`
	SerialConsistency string `yaml:"serial_consistency"`
}

// Replication is the keyspace replication.
type Replication struct {
	// Class is SimpleStrategy or NetworkTopologyStrategy.
	Class string `yaml:"class"`
	// ReplicationFactor is used by SimpleStrategy.
	ReplicationFactor int `yaml:"replication_factor"`
	// Datacenters maps DC name to replication factor for
	// NetworkTopologyStrategy.
	Datacenters map[string]int `yaml:"datacenters"`
}

// Load reads a YAML file, applies environment variable overrides from
// lookupEnv (os.LookupEnv in production) and validates the result.
func Load(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data, lookupEnv)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse is Load for bytes already in memory.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // a misspelt key must not silently fall back to a default
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse: %w", err)
	}
	if lookupEnv != nil {
		if err := cfg.applyEnv(lookupEnv); err != nil {
			return Config{}, err
		}
	}
	cfg.fillDefaults()
	cfg.fillServiceDefaults()
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Default is a single development environment on a local node, suited to
// running the integration tests or a laptop.
func Default() Config {
	c := Config{
		Environment: "development",
		Cassandra: Connection{
			Hosts:          []string{"127.0.0.1"},
			Port:           9042,
			ConnectTimeout: Duration(defaultConnectTimeout),
			Timeout:        Duration(defaultTimeout),
		},
	}
	c.fillServiceDefaults()
	return c
}

// Active returns the selected environment.
func (c Config) Active() (Environment, error) {
	env, ok := c.Environments[c.Environment]
	if !ok {
		return Environment{}, fmt.Errorf("environment: %q is not defined under environments", c.Environment)
	}
	return env, nil
}
