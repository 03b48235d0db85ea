package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	good := []struct{ in, name, host string }{
		{"agent=http://127.0.0.1:18080", "agent", "127.0.0.1:18080"},
		{"sb=http://127.0.0.2:8080/base", "sb", "127.0.0.2:8080"},
		{"v6=http://[::1]:8080", "v6", "[::1]:8080"},
		{"local=http://localhost:9", "local", "localhost:9"},
		{"x=http://127.255.0.1", "x", "127.255.0.1"},
	}
	for _, tt := range good {
		got, err := parseTarget(tt.in)
		if err != nil {
			t.Errorf("parseTarget(%q): %v", tt.in, err)
			continue
		}
		if got.Name != tt.name || got.URL.Host != tt.host {
			t.Errorf("parseTarget(%q) = %s %s, want %s %s", tt.in, got.Name, got.URL.Host, tt.name, tt.host)
		}
	}
	bad := []struct{ in, want string }{
		{"http://127.0.0.1:1", "NAME=URL"},
		{"=http://127.0.0.1:1", "NAME=URL"},
		{"a=", "NAME=URL"},
		{"a b=http://127.0.0.1:1", "spaces"},
		{"a=https://127.0.0.1:1", "want http"},
		{"a=ftp://127.0.0.1:1", "want http"},
		{"a=http://127.0.0.1:1/?x=1", "query"},
		{"a=http://u:p@127.0.0.1:1", "user"},
		{"a=http://10.0.0.1:80", "loopback"},
		{"a=http://0.0.0.0:80", "loopback"},
		{"a=http://192.0.2.7", "loopback"},
		{"a=http://[2001:db8::1]:80", "loopback"},
		{"a=http://example.com", "loopback"},
		{"a=http://127.0.0.1.nip.io:80", "loopback"},
		{"a=http://:80", "loopback"},
	}
	for _, tt := range bad {
		_, err := parseTarget(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseTarget(%q) error %v, want one mentioning %q", tt.in, err, tt.want)
		}
	}
}

func TestParseTargetWrapsErrNotLoopback(t *testing.T) {
	_, err := parseTarget("a=http://10.1.2.3:80")
	if !errors.Is(err, errNotLoopback) {
		t.Errorf("error %v does not wrap errNotLoopback", err)
	}
}

// The dialer refuses non-loopback addresses whatever the URL said: a
// connection to a TEST-NET address fails in Control, before any packet.
func TestDialerRefusesNonLoopback(t *testing.T) {
	d := net.Dialer{Control: loopbackOnly}
	_, err := d.DialContext(context.Background(), "tcp", "192.0.2.1:80")
	if !errors.Is(err, errNotLoopback) {
		t.Errorf("dial 192.0.2.1:80: %v, want errNotLoopback", err)
	}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:80", "127.9.9.9:1"} {
		if err := loopbackOnly("tcp", addr, nil); err != nil {
			t.Errorf("loopbackOnly(%q) = %v, want nil", addr, err)
		}
	}
	for _, addr := range []string{"10.0.0.1:80", "[2001:db8::1]:80", "no-port", "example.com:80"} {
		if err := loopbackOnly("tcp", addr, nil); err == nil {
			t.Errorf("loopbackOnly(%q) = nil, want an error", addr)
		}
	}
}
