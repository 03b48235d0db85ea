package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
)

// Target is one decision service under load: a name for the report, the
// base URL its routes hang off, and the route it is asked (default decide).
type Target struct {
	Name  string
	URL   *url.URL
	Route Route
}

// errNotLoopback is wrapped by every refusal of a non-loopback address.
var errNotLoopback = errors.New("not a loopback address")

// parseTarget reads NAME=URL, for example agent=http://127.0.0.1:18080.
// The URL must be http on a loopback host (an IP literal in
// 127.0.0.0/8 or ::1, or the name localhost) and carry no query or fragment.
func parseTarget(s string) (Target, error) {
	name, raw, ok := strings.Cut(s, "=")
	if !ok || name == "" || raw == "" {
		return Target{}, fmt.Errorf("target %q: want NAME=URL", s)
	}
	if strings.ContainsAny(name, " \t\n\"<>&") {
		return Target{}, fmt.Errorf("target %q: name %q has spaces, quotes or markup characters", s, name)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: %w", name, err)
	}
	if u.Scheme != "http" {
		return Target{}, fmt.Errorf("target %q: scheme %q: want http (TLS over loopback would measure TLS)", name, u.Scheme)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Target{}, fmt.Errorf("target %q: URL %q: want no user, query or fragment", name, raw)
	}
	if err := checkLoopbackHost(u.Hostname()); err != nil {
		return Target{}, fmt.Errorf("target %q: %w", name, err)
	}
	return Target{Name: name, URL: u}, nil
}

// checkLoopbackHost accepts the name localhost and IP literals that are
// loopback addresses. Other names are refused rather than resolved: what a
// name resolves to can change, and the dialer checks again anyway.
func checkLoopbackHost(host string) error {
	if host == "" {
		return fmt.Errorf("empty host: %w", errNotLoopback)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("host %q: only IP literals and localhost are accepted: %w", host, errNotLoopback)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("host %q: %w", host, errNotLoopback)
	}
	return nil
}

// loopbackOnly is a net.Dialer Control function: it refuses, before the
// connection is made, any address that is not loopback, whatever a name
// resolved to.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dial %q: %w", address, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("dial %q: %w", address, errNotLoopback)
	}
	return nil
}
