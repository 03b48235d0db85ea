package cassandra

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gocql/gocql"

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

func TestNewClusterRouting(t *testing.T) {
	c, err := NewCluster(ClusterOptions{
		Hosts: []string{"127.0.0.1"}, Keyspace: "ks", LocalDC: "eu-west",
		ConnectTimeout: 5 * time.Second, Timeout: 2 * time.Second,
		Username: "app", Password: "secret",
	})
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
	if c.SslOpts != nil {
		t.Errorf("TLS without TLSOptions: %+v", c.SslOpts)
	}
	tc, err := NewCluster(ClusterOptions{TLS: &TLSOptions{CAFile: "ca.pem"}})
	if err != nil {
		t.Fatal(err)
	}
	if tc.SslOpts == nil || tc.SslOpts.CaPath != "ca.pem" || !tc.SslOpts.EnableHostVerification {
		t.Errorf("TLS options = %+v, want the CA file and host verification", tc.SslOpts)
	}
}

func TestNewClusterZeroValue(t *testing.T) {
	c, err := NewCluster(ClusterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Hosts) != 1 || c.Hosts[0] != "127.0.0.1" || c.Port != 9042 || c.Consistency != gocql.LocalQuorum || c.HostFilter != nil {
		t.Errorf("zero ClusterOptions: hosts %v port %d consistency %v filter %v", c.Hosts, c.Port, c.Consistency, c.HostFilter)
	}
}

func TestNewClusterRejectsBadOptions(t *testing.T) {
	for _, c := range []struct {
		opts ClusterOptions
		want string
	}{
		{ClusterOptions{Hosts: []string{" "}}, "host 0 is empty"},
		{ClusterOptions{Port: 70000}, "not a TCP port"},
		{ClusterOptions{Timeout: -time.Second}, "negative timeout"},
		{ClusterOptions{Password: "secret"}, "a password without a username"},
		{ClusterOptions{TLS: &TLSOptions{CertFile: "c.pem"}}, "set together"},
		{ClusterOptions{Keyspace: "a-b"}, "not a valid keyspace name"},
		{ClusterOptions{LocalDC: "dc 1"}, "not a valid datacenter name"},
		{ClusterOptions{ReadConsistency: gocql.Consistency(0x99)}, "read consistency"},
	} {
		if _, err := NewCluster(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewCluster(%+v) = %v, want an error containing %q", c.opts, err, c.want)
		}
	}
}

// TestCloseTwice: a second Close does nothing and returns nil, and calls
// after Close fail with ups.ErrClosed.
func TestCloseTwice(t *testing.T) {
	s, err := NewStore(new(gocql.Session), StoreOptions{Keyspace: "ks"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatalf("second Close: %v, want nil", err)
	}
	if _, err := s.Lookup(ctx, "u1"); !errors.Is(err, ups.ErrClosed) {
		t.Errorf("Lookup after Close = %v, want ups.ErrClosed", err)
	}
}
