package testcluster

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// Hints are the hints one node holds for another: writes the target missed
// while it was down, to be replayed when it is back.
type Hints struct {
	// Holder is the address of the node that holds the hints.
	Holder string
	// TargetID is the host ID of the node they are for, and Target its
	// address ("" if the holder's gossip does not know it).
	TargetID, Target string
	// Queued counts the hint files queued for dispatch
	// (system_views.pending_hints). Cassandra queues a file only once it
	// is closed, so the file still being written is not counted: with a
	// node down, pending_hints showed 1 file where 2 were on disk, and a
	// node back up shows none until its hints' last file is closed.
	Queued int
	// Files counts the hint files in the holder's hints directory,
	// including one still being written; -1 on an attached cluster, where
	// the harness cannot look.
	Files int
	// Oldest and Newest are the creation times of the queued files.
	Oldest, Newest time.Time
}

// String describes the hints for logs and errors.
func (h Hints) String() string {
	target := h.Target
	if target == "" {
		target = "host " + h.TargetID
	}
	files := "unknown"
	if h.Files >= 0 {
		files = strconv.Itoa(h.Files)
	}
	return fmt.Sprintf("%s holds hints for %s (%d queued, %s on disk)", h.Holder, target, h.Queued, files)
}

// PendingHints lists the hints every running node holds, from its
// system_views.pending_hints and, on a started cluster, its hints
// directory.
func (c *Cluster) PendingHints(ctx context.Context) ([]Hints, error) {
	var all []Hints
	for _, n := range c.running() {
		hs, err := n.pendingHints(ctx)
		if err != nil {
			return nil, err
		}
		all = append(all, hs...)
	}
	return all, nil
}

func (n *Node) pendingHints(ctx context.Context) ([]Hints, error) {
	byTarget := map[string]*Hints{}
	get := func(id string) *Hints {
		h := byTarget[id]
		if h == nil {
			h = &Hints{Holder: n.addr, TargetID: id, Files: -1}
			byTarget[id] = h
		}
		return h
	}
	err := n.query(ctx, func(s *gocql.Session) error {
		iter := s.Query("SELECT host_id, address, files, oldest, newest FROM system_views.pending_hints").WithContext(ctx).Iter()
		var (
			id             gocql.UUID
			addr           net.IP
			files          *int
			oldest, newest time.Time
		)
		for iter.Scan(&id, &addr, &files, &oldest, &newest) {
			h := get(id.String())
			if addr != nil {
				h.Target = addr.String()
			}
			if files != nil {
				h.Queued = *files
			}
			h.Oldest, h.Newest = oldest, newest
			addr, files = nil, nil
		}
		return iter.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("testcluster: read pending_hints of %s: %w", n.addr, err)
	}
	if n.cluster.Managed() {
		files, err := n.hintFiles(ctx)
		if err != nil {
			return nil, err
		}
		for _, h := range byTarget {
			h.Files = 0
		}
		for id, count := range files {
			get(id).Files = count
		}
		if len(files) > 0 {
			view, err := n.gossipView(ctx)
			if err != nil {
				return nil, err
			}
			for addr, e := range view {
				if h := byTarget[e.hostID]; h != nil && h.Target == "" {
					h.Target = addr
				}
			}
		}
	}
	hs := make([]Hints, 0, len(byTarget))
	for _, id := range sortedKeys(byTarget) {
		hs = append(hs, *byTarget[id])
	}
	return hs, nil
}

// hintFiles counts the node's hint files per target host ID.
func (n *Node) hintFiles(ctx context.Context) (map[string]int, error) {
	dir, err := n.setting(ctx, "hints_directory")
	if err != nil {
		return nil, err
	}
	out, err := n.exec(ctx, "ls", "-1", dir)
	if err != nil {
		return nil, err
	}
	return countHintFiles(strings.Fields(out)), nil
}

// countHintFiles counts hint files per target host ID. Cassandra names
// them <host ID>-<creation time>-<version>.hints, next to .crc32 files.
func countHintFiles(names []string) map[string]int {
	const uuidLen = 36
	counts := map[string]int{}
	for _, name := range names {
		if !strings.HasSuffix(name, ".hints") || len(name) <= uuidLen || name[uuidLen] != '-' {
			continue
		}
		if _, err := gocql.ParseUUID(name[:uuidLen]); err != nil {
			continue
		}
		counts[name[:uuidLen]]++
	}
	return counts
}

// setting reads one of the node's settings from system_views.settings.
func (n *Node) setting(ctx context.Context, name string) (string, error) {
	var v *string
	err := n.query(ctx, func(s *gocql.Session) error {
		return s.Query("SELECT value FROM system_views.settings WHERE name = ?", name).WithContext(ctx).Scan(&v)
	})
	if err != nil {
		return "", fmt.Errorf("testcluster: read setting %s of %s: %w", name, n.addr, err)
	}
	if v == nil || *v == "" {
		return "", fmt.Errorf("testcluster: setting %s of %s is empty", name, n.addr)
	}
	return *v, nil
}

// WaitHintsDelivered waits until no running node holds any hint, and none
// has appeared for longer than the nodes' hints_flush_period: a hint is
// buffered in memory for up to that long before any file or table shows
// it. Start the nodes the hints are for first: hints for a node that is
// down wait for it, and this waits until ctx ends.
func (c *Cluster) WaitHintsDelivered(ctx context.Context) error {
	began := time.Now()
	quiet := c.hintsQuietPeriod(ctx)
	var (
		emptySince time.Time
		last       []Hints
		lastErr    error
	)
	for {
		hs, err := c.PendingHints(ctx)
		switch {
		case err != nil:
			lastErr = err
			emptySince = time.Time{}
		case len(hs) > 0:
			last = hs
			emptySince = time.Time{}
		case emptySince.IsZero():
			emptySince = time.Now()
		case time.Since(emptySince) >= quiet:
			c.logf("testcluster: no hints pending on any running node for %s, %s after waiting began", quiet, since(began))
			return nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			outstanding := make([]string, len(last))
			for i, h := range last {
				outstanding[i] = h.String()
			}
			return fmt.Errorf("testcluster: hints not delivered: %w; last seen: %s%s",
				err, strings.Join(outstanding, "; "), errSuffix(lastErr))
		}
	}
}

// hintsQuietPeriod is the longest hints_flush_period of the running nodes
// plus a margin; 12s when it cannot be read.
func (c *Cluster) hintsQuietPeriod(ctx context.Context) time.Duration {
	const margin = 2 * time.Second
	longest := 10 * time.Second
	var periods []time.Duration
	for _, n := range c.running() {
		v, err := n.setting(ctx, "hints_flush_period")
		if err != nil {
			continue
		}
		if d, err := parseCassandraDuration(v); err == nil {
			periods = append(periods, d)
		}
	}
	if len(periods) > 0 {
		longest = slices.Max(periods)
	}
	return longest + margin
}

// parseCassandraDuration parses a duration as cassandra.yaml writes them:
// a whole number and a unit among ns, us, µs, ms, s, m, h and d.
func parseCassandraDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i <= 0 {
		return 0, fmt.Errorf("duration %q: want a number and a unit", s)
	}
	v, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("duration %q: %w", s, err)
	}
	units := map[string]time.Duration{
		"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour,
	}
	unit, ok := units[strings.ToLower(s[i:])]
	if !ok {
		return 0, fmt.Errorf("duration %q: unknown unit %q", s, s[i:])
	}
	return time.Duration(v) * unit, nil
}
