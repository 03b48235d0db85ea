package cassandra

import (
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/ups"
)

func TestNewStoreRejectsBadOptions(t *testing.T) {
	// A zero Session is enough: NewStore validates before touching it.
	session := new(gocql.Session)
	tests := []struct {
		name string
		opts StoreOptions
		want string
	}{
		{"no keyspace", StoreOptions{}, "not a valid keyspace name"},
		{"injected keyspace", StoreOptions{Keyspace: "ks.assignments; DROP TABLE x"}, "not a valid keyspace name"},
		{"retention over 20 years", StoreOptions{Keyspace: "ks", Retention: ups.Retention{Default: ups.MaxRetention + time.Second}}, "exceeds the maximum"},
	}
	for _, tt := range tests {
		if _, err := NewStore(session, tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewStore = %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := NewStore(nil, StoreOptions{Keyspace: "ks"}); err == nil {
		t.Error("NewStore(nil session) succeeded")
	}
}

func TestStoreOptionsFor(t *testing.T) {
	env := config.Environment{
		Retention:          config.Duration(48 * time.Hour),
		RetentionOverrides: map[string]config.Duration{"7": config.Duration(time.Hour)},
		Keyspace:           "ks",
		ReadConsistency:    "LOCAL_ONE",
		WriteConsistency:   "QUORUM",
	}
	opts, err := StoreOptionsFor(env)
	if err != nil {
		t.Fatal(err)
	}
	if opts.ReadConsistency != gocql.LocalOne || opts.WriteConsistency != gocql.Quorum {
		t.Errorf("consistency = %v/%v, want LOCAL_ONE/QUORUM", opts.ReadConsistency, opts.WriteConsistency)
	}
	if ups.TTLSeconds(opts.Retention.For("7")) != 3600 || ups.TTLSeconds(opts.Retention.For("8")) != 172800 {
		t.Errorf("retention = %+v", opts.Retention)
	}
	env.ReadConsistency = "SOMETIMES"
	if _, err := StoreOptionsFor(env); err == nil || !strings.Contains(err.Error(), "read_consistency") {
		t.Errorf("StoreOptionsFor(bad read consistency) = %v, want an error naming read_consistency", err)
	}
}

func TestNewClusterRouting(t *testing.T) {
	conn := config.Default().Cassandra
	conn.Username, conn.Password = "app", "secret"
	c, err := NewCluster(conn, config.Environment{Keyspace: "ks", WriteConsistency: "LOCAL_QUORUM", LocalDC: "eu-west"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Keyspace != "ks" || c.Consistency != gocql.LocalQuorum || c.Port != 9042 {
		t.Errorf("cluster = keyspace %q consistency %v port %d", c.Keyspace, c.Consistency, c.Port)
	}
	if _, ok := c.Authenticator.(gocql.PasswordAuthenticator); !ok {
		t.Errorf("authenticator = %T, want PasswordAuthenticator", c.Authenticator)
	}
	if c.PoolConfig.HostSelectionPolicy == nil {
		t.Error("no host selection policy")
	}
	if c.Timeout != 2*time.Second || c.ConnectTimeout != 5*time.Second {
		t.Errorf("timeouts = %v/%v", c.Timeout, c.ConnectTimeout)
	}
}
