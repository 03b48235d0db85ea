package testcluster

import (
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/gocql/gocql"
)

// endpoint is what one node's gossip says about one endpoint: a row of its
// system_views.gossip_info.
type endpoint struct {
	// generation is the endpoint's start time in seconds; it changes when
	// the endpoint restarts.
	generation int
	// heartbeat counts up about once a second while the endpoint runs and
	// its gossip reaches the observer.
	heartbeat int
	// status is the gossip STATUS, such as "NORMAL,<token>", "BOOT,…" or
	// "shutdown,true".
	status string
	hostID string
}

// gossipView reads n's system_views.gossip_info, keyed by address.
func (n *Node) gossipView(ctx context.Context) (map[string]endpoint, error) {
	view := map[string]endpoint{}
	err := n.query(ctx, func(s *gocql.Session) error {
		iter := s.Query("SELECT address, generation, heartbeat, status, status_with_port, host_id FROM system_views.gossip_info").
			WithContext(ctx).Iter()
		var (
			addr                     net.IP
			gen, hb                  *int
			status, withPort, hostID *string
		)
		for iter.Scan(&addr, &gen, &hb, &status, &withPort, &hostID) {
			e := endpoint{status: deref(withPort), hostID: deref(hostID)}
			if e.status == "" {
				e.status = deref(status)
			}
			if gen != nil {
				e.generation = *gen
			}
			if hb != nil {
				e.heartbeat = *hb
			}
			view[addr.String()] = e
			addr, gen, hb, status, withPort, hostID = nil, nil, nil, nil, nil, nil
		}
		return iter.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("read gossip_info of %s: %w", n.addr, err)
	}
	return view, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// pair is an (observer, subject) pair of addresses.
type pair struct{ observer, subject string }

// aliveProblems lists why the nodes at addrs do not all see each other
// alive yet, given each one's gossip view (nil when it could not be read).
// A subject is alive to an observer when the observer knows the subject's
// current generation (what the subject says of itself), the status is
// NORMAL, and the heartbeat has advanced since first, which remembers the
// first heartbeat seen of each pair and generation across polls.
func aliveProblems(addrs []string, views map[string]map[string]endpoint, first map[pair]endpoint) []string {
	var problems []string
	for _, o := range addrs {
		if views[o] == nil {
			problems = append(problems, o+": gossip not readable")
		}
	}
	for _, s := range addrs {
		self, ok := views[s][s]
		if views[s] == nil {
			continue
		}
		if !ok {
			problems = append(problems, s+": no gossip state of its own")
			continue
		}
		for _, o := range addrs {
			if o == s || views[o] == nil {
				continue
			}
			row, ok := views[o][s]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s does not know %s", o, s))
				continue
			case row.generation != self.generation:
				problems = append(problems, fmt.Sprintf("%s knows generation %d of %s, not its current %d", o, row.generation, s, self.generation))
				continue
			case !strings.HasPrefix(row.status, "NORMAL"):
				problems = append(problems, fmt.Sprintf("%s sees %s as %q", o, s, row.status))
				continue
			}
			p := pair{o, s}
			base, seen := first[p]
			if !seen || base.generation != row.generation {
				first[p] = row
				problems = append(problems, fmt.Sprintf("%s has not yet seen the heartbeat of %s advance", o, s))
			} else if row.heartbeat <= base.heartbeat {
				problems = append(problems, fmt.Sprintf("%s sees the heartbeat of %s stuck at %d", o, s, row.heartbeat))
			}
		}
	}
	return problems
}

// WaitAlive waits until every running node sees every other running node
// alive in its system_views.gossip_info (see aliveProblems). It does not
// wait for nodes that are killed, stopped or paused: Start and Unpause do.
func (c *Cluster) WaitAlive(ctx context.Context) error {
	first := map[pair]endpoint{}
	for {
		nodes := c.running()
		addrs := make([]string, len(nodes))
		views := map[string]map[string]endpoint{}
		var lastErr error
		for i, n := range nodes {
			addrs[i] = n.addr
			v, err := n.gossipView(ctx)
			if err != nil {
				lastErr = err
				continue
			}
			views[n.addr] = v
		}
		problems := aliveProblems(addrs, views, first)
		if len(problems) == 0 {
			return nil
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return fmt.Errorf("testcluster: nodes do not all see each other alive: %w: %s%s",
				err, summarize(problems), errSuffix(lastErr))
		}
	}
}

// awaitShutdownSeen waits until every running node's gossip shows n shut
// down, as a graceful stop announces.
func (c *Cluster) awaitShutdownSeen(ctx context.Context, n *Node) error {
	for {
		var problems []string
		for _, o := range c.running() {
			v, err := o.gossipView(ctx)
			if err != nil {
				problems = append(problems, err.Error())
				continue
			}
			if st := v[n.addr].status; !strings.HasPrefix(strings.ToLower(st), "shutdown") {
				problems = append(problems, fmt.Sprintf("%s sees %s as %q", o.addr, n.addr, st))
			}
		}
		if len(problems) == 0 {
			return nil
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return fmt.Errorf("testcluster: stopped node %s not seen shut down: %w: %s", n, err, summarize(problems))
		}
	}
}

func summarize(problems []string) string {
	const most = 6
	if len(problems) > most {
		return strings.Join(problems[:most], "; ") + fmt.Sprintf("; and %d more", len(problems)-most)
	}
	return strings.Join(problems, "; ")
}

func errSuffix(err error) string {
	if err == nil {
		return ""
	}
	return " (last error: " + err.Error() + ")"
}

// Share is the part of its datacenter's token ring a node owns as primary
// replica.
type Share struct {
	Addr, DC string
	// Fraction is in [0, 1]; the shares of one DC add up to 1.
	Fraction float64
}

// Ownership lists each node's Share, grouped by DC.
type Ownership []Share

// String renders the ownership as "dc1: 127.0.0.2 33.4%, …; dc2: …".
func (o Ownership) String() string {
	var b strings.Builder
	for i, s := range o {
		switch {
		case i == 0:
			b.WriteString(s.DC + ": ")
		case s.DC != o[i-1].DC:
			b.WriteString("; " + s.DC + ": ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.1f%%", s.Addr, 100*s.Fraction)
	}
	return b.String()
}

// TokenOwnership reads every node's tokens from a running node
// (system.local and system.peers_v2) and computes each node's share of its
// own DC's ring. With balanced token allocation
// (allocate_tokens_for_local_replication_factor) the shares of a DC come
// out close to equal; with random tokens they spread widely.
func (c *Cluster) TokenOwnership(ctx context.Context) (Ownership, error) {
	nodes := c.running()
	if len(nodes) == 0 {
		return nil, fmt.Errorf("testcluster: token ownership: no running node")
	}
	type row struct {
		addr, dc string
		tokens   []string
	}
	var rows []row
	err := nodes[0].query(ctx, func(s *gocql.Session) error {
		rows = rows[:0]
		var r row
		var addr net.IP
		if err := s.Query("SELECT broadcast_address, data_center, tokens FROM system.local").WithContext(ctx).
			Scan(&addr, &r.dc, &r.tokens); err != nil {
			return err
		}
		r.addr = addr.String()
		rows = append(rows, r)
		iter := s.Query("SELECT peer, data_center, tokens FROM system.peers_v2").WithContext(ctx).Iter()
		for iter.Scan(&addr, &r.dc, &r.tokens) {
			rows = append(rows, row{addr.String(), r.dc, r.tokens})
		}
		return iter.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("testcluster: read tokens from %s: %w", nodes[0].addr, err)
	}
	byDC := map[string]map[string][]int64{}
	for _, r := range rows {
		if byDC[r.dc] == nil {
			byDC[r.dc] = map[string][]int64{}
		}
		for _, t := range r.tokens {
			v, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("testcluster: token %q of %s is not a Murmur3 token: %w", t, r.addr, err)
			}
			byDC[r.dc][r.addr] = append(byDC[r.dc][r.addr], v)
		}
	}
	var own Ownership
	for _, dc := range sortedKeys(byDC) {
		own = append(own, ringShares(dc, byDC[dc])...)
	}
	return own, nil
}

// ringShares computes each owner's primary share of one DC's ring: a token
// owns the range from the previous token (exclusive) up to itself, and the
// first token's range wraps around from the last.
func ringShares(dc string, tokens map[string][]int64) []Share {
	type tok struct {
		v     int64
		owner string
	}
	var ring []tok
	for addr, ts := range tokens {
		for _, t := range ts {
			ring = append(ring, tok{t, addr})
		}
	}
	slices.SortFunc(ring, func(a, b tok) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return strings.Compare(a.owner, b.owner)
	})
	owned := map[string]float64{}
	for i, t := range ring {
		if len(ring) == 1 {
			owned[t.owner] = 1
			break
		}
		prev := ring[(i+len(ring)-1)%len(ring)].v
		// Unsigned subtraction wraps modulo 2^64, which is exactly the
		// length of the wrapping range.
		owned[t.owner] += float64(uint64(t.v)-uint64(prev)) / math.Exp2(64)
	}
	shares := make([]Share, 0, len(tokens))
	for _, addr := range sortedKeys(tokens) {
		shares = append(shares, Share{Addr: addr, DC: dc, Fraction: owned[addr]})
	}
	return shares
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
