package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
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
	{"REFRESH_AFTER", "environments.<active>.refresh_after", func(c *Config, v string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		return c.updateActive(func(e *Environment) { e.RefreshAfter = d })
	}},
	{"FIRST_WRITER_WINS", "environments.<active>.first_writer_wins", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", v)
		}
		return c.updateActive(func(e *Environment) { e.FirstWriterWins = b })
	}},
	{"STORE", "store.kind", func(c *Config, v string) error { c.Store.Kind = v; return nil }},
	{"STORE_BUDGET", "store.budget", func(c *Config, v string) error {
		b, err := ParseBudget(v)
		if err != nil {
			return err
		}
		c.Store.Budget = b
		return nil
	}},
	{"CACHE_SIZE", "store.cache.size", func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("not a number: %q", v)
		}
		c.Store.Cache.Size = n
		return nil
	}},
	{"CACHE_TTL", "store.cache.ttl", durationInto(func(c *Config) *Duration { return &c.Store.Cache.TTL })},
	{"SAVE_MODE", "store.saves.mode", func(c *Config, v string) error { c.Store.Saves.Mode = v; return nil }},
	{"LISTEN", "server.listen", func(c *Config, v string) error { c.Server.Listen = v; return nil }},
	{"ADMIN_LISTEN", "server.admin_listen", func(c *Config, v string) error { c.Server.AdminListen = v; return nil }},
	{"API_TOKENS", "server.tokens", func(c *Config, v string) error { c.Server.Tokens = splitList(v); return nil }},
	{"ADMIN_TOKENS", "server.admin_tokens", func(c *Config, v string) error { c.Server.AdminTokens = splitList(v); return nil }},
	{"AUTH_HMAC_SECRETS", "server.auth.hmac_secrets", func(c *Config, v string) error { c.Server.Auth.HMACSecrets = splitList(v); return nil }},
	{"AUTH_TTL", "server.auth.ttl", durationInto(func(c *Config) *Duration { return &c.Server.Auth.TTL })},
	{"AUTH_JWKS_URL", "server.auth.jwks_url", func(c *Config, v string) error { c.Server.Auth.JWKSURL = v; return nil }},
	{"AUTH_JWKS_UPDATE_INTERVAL", "server.auth.jwks_update_interval", durationInto(func(c *Config) *Duration { return &c.Server.Auth.JWKSUpdateInterval })},
	{"AUTH_JWKS_MIN_REFRESH_INTERVAL", "server.auth.jwks_min_refresh_interval", durationInto(func(c *Config) *Duration { return &c.Server.Auth.JWKSMinRefreshInterval })},
	{"ADMIN_AUTH_HMAC_SECRETS", "server.admin_auth.hmac_secrets", func(c *Config, v string) error { c.Server.AdminAuth.HMACSecrets = splitList(v); return nil }},
	{"ADMIN_AUTH_TTL", "server.admin_auth.ttl", durationInto(func(c *Config) *Duration { return &c.Server.AdminAuth.TTL })},
	{"ADMIN_AUTH_JWKS_URL", "server.admin_auth.jwks_url", func(c *Config, v string) error { c.Server.AdminAuth.JWKSURL = v; return nil }},
	{"ADMIN_AUTH_JWKS_UPDATE_INTERVAL", "server.admin_auth.jwks_update_interval", durationInto(func(c *Config) *Duration { return &c.Server.AdminAuth.JWKSUpdateInterval })},
	{"ADMIN_AUTH_JWKS_MIN_REFRESH_INTERVAL", "server.admin_auth.jwks_min_refresh_interval", durationInto(func(c *Config) *Duration { return &c.Server.AdminAuth.JWKSMinRefreshInterval })},
	{"OVERRIDES_ENABLED", "server.overrides.enabled", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", v)
		}
		c.Server.Overrides.Enabled = b
		return nil
	}},
	{"OVERRIDES_TTL", "server.overrides.ttl", durationInto(func(c *Config) *Duration { return &c.Server.Overrides.TTL })},
	{"TLS_CERT_FILE", "server.tls.cert_file", func(c *Config, v string) error { c.Server.TLS.CertFile = v; return nil }},
	{"TLS_KEY_FILE", "server.tls.key_file", func(c *Config, v string) error { c.Server.TLS.KeyFile = v; return nil }},
	{"DATAFILES", "datafiles", func(c *Config, v string) error {
		srcs, err := ParseDatafileSources(splitList(v))
		if err != nil {
			return err
		}
		c.Datafiles = srcs
		return nil
	}},
	// After DATAFILES: together they replace the file's datafiles.
	{"SDK_KEYS", "datafiles", func(c *Config, v string) error {
		srcs := SDKKeySources(splitList(v))
		if _, byEnv := c.sources["datafiles"]; byEnv {
			srcs = append(c.Datafiles, srcs...)
		}
		c.Datafiles = srcs
		return nil
	}},
	{"DATAFILE_URL_TEMPLATE", "datafile_url_template", func(c *Config, v string) error { c.DatafileURLTemplate = v; return nil }},
	{"WEBHOOK_LISTEN", "webhook.listen", func(c *Config, v string) error { c.Webhook.Listen = v; return nil }},
	{"TRACING_ENABLED", "tracing.enabled", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", clipValue(v))
		}
		c.Tracing.Enabled = b
		return nil
	}},
	{"TRACING_ENDPOINT", "tracing.endpoint", func(c *Config, v string) error { c.Tracing.Endpoint = v; return nil }},
	{"TRACING_PROTOCOL", "tracing.protocol", func(c *Config, v string) error { c.Tracing.Protocol = strings.ToLower(v); return nil }},
	{"TRACING_SAMPLE_RATE", "tracing.sample_rate", func(c *Config, v string) error {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", clipValue(v))
		}
		c.Tracing.SampleRate = r
		return nil
	}},
	{"TRACING_ENVIRONMENT", "tracing.environment", func(c *Config, v string) error { c.Tracing.Environment = v; return nil }},
	{"TRACING_SERVICE_NAME", "tracing.service_name", func(c *Config, v string) error { c.Tracing.ServiceName = v; return nil }},
	{"TRACING_USER_ID", "tracing.user_id", func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", clipValue(v))
		}
		c.Tracing.UserID = b
		return nil
	}},
	{"LOG_LEVEL", "log.level", func(c *Config, v string) error { c.Log.Level = strings.ToLower(v); return nil }},
	{"LOG_FORMAT", "log.format", func(c *Config, v string) error { c.Log.Format = strings.ToLower(v); return nil }},
}

// durationInto sets the Duration field at returns.
func durationInto(field func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := ParseDuration(v)
		if err != nil {
			return err
		}
		*field(c) = d
		return nil
	}
}

// ParseDatafileSources reads datafile sources written as SDKKEY=PATH or
// SDKKEY=URL (http or https), or a bare PATH whose SDK key is the file's
// base name without .json — the form of --datafile and
// STICKYBUCKET_DATAFILES.
func ParseDatafileSources(specs []string) ([]DatafileSource, error) {
	out := make([]DatafileSource, 0, len(specs))
	for _, spec := range specs {
		key, where, ok := strings.Cut(spec, "=")
		if !ok {
			where = spec
			key = strings.TrimSuffix(filepathBase(spec), ".json")
		}
		if where == "" {
			return nil, fmt.Errorf("datafile %q: no file or URL after %q", spec, key+"=")
		}
		src := DatafileSource{SDKKey: key, PollEvery: Duration(time.Minute)}
		if strings.HasPrefix(where, "http://") || strings.HasPrefix(where, "https://") {
			src.URL = where
		} else {
			src.File = where
		}
		out = append(out, src)
	}
	return out, nil
}

// SDKKeySources returns a datafile source per SDK key, fetched from
// datafile_url_template — the form of --sdk-key and
// STICKYBUCKET_SDK_KEYS.
func SDKKeySources(keys []string) []DatafileSource {
	out := make([]DatafileSource, 0, len(keys))
	for _, k := range keys {
		out = append(out, DatafileSource{SDKKey: k, PollEvery: Duration(time.Minute)})
	}
	return out
}

func filepathBase(p string) string {
	if i := strings.LastIndexAny(p, `/\`); i >= 0 {
		return p[i+1:]
	}
	return p
}

// applyEnv applies the variables that are set. A variable set to nothing
// (or only spaces) counts as unset: `FOO= cmd` and an empty entry in a
// container spec mean "no override", not "override with nothing". It
// returns a problem for every variable that could not be applied, with
// the keys they left as they were.
func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) (errs []error, failed []string) {
	for _, o := range envOverrides {
		name := EnvPrefix + o.name
		v, ok := lookupEnv(name)
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			continue
		}
		key := strings.ReplaceAll(o.key, "<active>", c.Environment)
		if err := o.apply(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s (overrides %s): %w", name, o.key, err))
			failed = append(failed, key)
			continue
		}
		if c.sources == nil {
			c.sources = map[string]string{}
		}
		c.sources[key] = name
	}
	return errs, failed
}

// updateActive changes the environment in force: one the file defines, or
// the default one when it defines none (which it then holds).
func (c *Config) updateActive(f func(*Environment)) error {
	env, err := c.Active()
	if err != nil {
		return fmt.Errorf("environment %q is not defined under environments", clipValue(c.Environment))
	}
	f(&env)
	if len(c.Environments) == 0 {
		c.Environments = map[string]Environment{}
		c.defaultEnv = true
	}
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
