package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gocql/gocql"

	"github.com/stickybucket/stickybucket/integration/testcluster"
)

// The example datafiles: revision 1, and revision 2, which swaps the
// traffic of search_experiment's variations.
const (
	datafileV1 = "examples/datafile-v1.json"
	datafileV2 = "examples/datafile-v2.json"
)

// Bounds of the demo's waits.
const (
	readyWithin      = 2 * time.Minute
	replicatedWithin = 30 * time.Second
	reloadWithin     = 30 * time.Second
	cleanupWithin    = 2 * time.Minute
)

// run is the whole demo; every container it started is removed when it
// returns.
func run(ctx context.Context, image string, out io.Writer) (err error) {
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	if n, err := removeLeftovers(ctx); err != nil {
		return fmt.Errorf("removing an earlier run's containers: %w", err)
	} else if n > 0 {
		say("removed %d container(s) an earlier run left behind", n)
	}
	dir, err := os.MkdirTemp("", "stickybucket-demo-")
	if err != nil {
		return fmt.Errorf("making the demo's directory: %w", err)
	}
	var (
		cs      containers
		cluster *testcluster.Cluster
	)
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupWithin)
		defer cancel()
		n := len(cs.names)
		cerr := cs.remove(cctx)
		if cluster != nil {
			n += len(cluster.Nodes())
			cerr = errors.Join(cerr, cluster.Close(cctx))
		}
		// (A failed start of the cluster removed its nodes itself.)
		if cerr == nil {
			say("\n== removed %d container(s)", n)
		}
		err = errors.Join(err, cerr, os.RemoveAll(dir))
	}()

	// The cluster: about a minute or two on two shared cores.
	say("== starting the Cassandra cluster: dc1 with three nodes, dc2 with one (progress on stderr)")
	began := time.Now()
	cluster, err = testcluster.Start(ctx, testcluster.Options{
		Nodes: []testcluster.NodeOptions{{DC: "dc1"}, {DC: "dc1"}, {DC: "dc1"}, {DC: "dc2"}},
		Logf:  func(format string, args ...any) { fmt.Fprintf(os.Stderr, "  "+format+"\n", args...) },
	})
	if err != nil {
		return fmt.Errorf("starting the cluster: %w", err)
	}
	say("   up in %s (image %s)", time.Since(began).Round(time.Second), cluster.Image())
	for _, dc := range []string{"dc1", "dc2"} {
		var addrs []string
		for _, n := range cluster.NodesIn(dc) {
			addrs = append(addrs, n.Addr())
		}
		say("   %s: %s", dc, strings.Join(addrs, ", "))
	}

	addrs, err := freeAddrs(2)
	if err != nil {
		return err
	}
	suffix := filepath.Base(dir)[len("stickybucket-demo-"):]
	regions := []*region{
		{name: "region 1", dc: "dc1", addr: addrs[0]},
		{name: "region 2", dc: "dc2", addr: addrs[1]},
	}
	for _, r := range regions {
		for _, n := range cluster.NodesIn(r.dc) {
			r.hosts = append(r.hosts, n.Addr())
		}
		r.dir = filepath.Join(dir, r.dc)
		r.container = "stickybucket-demo-" + r.dc + "-" + strings.ToLower(suffix)
		if err := r.writeFiles(datafileV1); err != nil {
			return err
		}
	}
	r1, r2 := regions[0], regions[1]

	// The keyspace, replicated to both datacenters, by the image's own
	// migrate command.
	if _, err := r1.runOnce(ctx, image, &cs, r1.container+"-migrate", "migrate", "--config", configFile); err != nil {
		return err
	}
	say("\n== keyspace demo created by `stickybucket migrate` in the image: NetworkTopologyStrategy {dc1: 3, dc2: 1}")
	for _, r := range regions {
		if err := r.startServe(ctx, image, &cs); err != nil {
			return err
		}
	}
	for _, r := range regions {
		if err := r.waitReady(ctx, readyWithin); err != nil {
			return err
		}
		say("== %s: serve in %s on %s (admin %s), Cassandra %s, LOCAL_QUORUM, datafile revision 1",
			r.name, r.dc, r.api(), r.admin(), strings.Join(r.hosts, ", "))
	}
	say("   docker %s", strings.Join(r1.runArgs(image, r1.container, true), " "))

	dc2 := cluster.NodesIn("dc2")[0]
	session, err := dc2.ClusterConfig().CreateSession()
	if err != nil {
		return fmt.Errorf("connecting to dc2's node: %w", err)
	}
	defer session.Close()

	// 1. A user decided in region 1.
	const user = "alice"
	d1, err := decide(ctx, r1.api(), user)
	if err != nil {
		return fmt.Errorf("%s: %w", r1.name, err)
	}
	say("\n1. %s decides %s for flag %s: %s (rule %s)", r1.name, user, flagKey, d1.VariationKey, d1.RuleKey)
	took, variationID, err := awaitRow(ctx, session, user)
	if err != nil {
		return err
	}
	say("   saved in dc1, and on dc2's node %s %s later (variation %s, read there at ONE)", dc2.Addr(), took, variationID)

	// 2. Region 2's datafile changes; the user keeps the variation.
	began = time.Now()
	if err := r2.replaceDatafile(datafileV2); err != nil {
		return err
	}
	if err := awaitRevision(ctx, r2, "2"); err != nil {
		return err
	}
	say("\n2. %s's datafile replaced by revision 2 (the file renamed over; serve reloaded it in %s)", r2.name, time.Since(began).Round(10*time.Millisecond))
	d2, err := decide(ctx, r2.api(), user)
	if err != nil {
		return fmt.Errorf("%s: %w", r2.name, err)
	}
	fresh, err := decide(ctx, r2.api(), user, "IGNORE_USER_PROFILE_SERVICE")
	if err != nil {
		return fmt.Errorf("%s: %w", r2.name, err)
	}
	say("   %s decides %s: %s (%s)", r2.name, user, d2.VariationKey, sticky(d2, d1))
	say("   without profiles, revision 2 gives %s: %s", user, fresh.VariationKey)
	if d2.VariationKey != d1.VariationKey {
		return fmt.Errorf("%s gave %s %s, not region 1's %s: not sticky", r2.name, user, d2.VariationKey, d1.VariationKey)
	}

	// 3. A dc1 node dies; both regions keep the user's variation.
	victim := cluster.NodesIn("dc1")[1]
	if err := victim.Kill(ctx); err != nil {
		return fmt.Errorf("killing %s: %w", victim.Addr(), err)
	}
	say("\n3. dc1's node %s killed (docker kill); dc1 has 2 of 3 replicas left", victim.Addr())
	// Past the caches' TTL (2s), so the next decisions read Cassandra.
	if err := sleep(ctx, 3*time.Second); err != nil {
		return err
	}
	for _, r := range regions {
		before, err := counter(ctx, r.admin(), "stickybucket_cache_store_reads_total")
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		d, err := decide(ctx, r.api(), user)
		if err != nil {
			return fmt.Errorf("%s after the kill: %w", r.name, err)
		}
		after, err := counter(ctx, r.admin(), "stickybucket_cache_store_reads_total")
		if err != nil {
			return fmt.Errorf("%s: %w", r.name, err)
		}
		say("   %s decides %s: %s (%s; %.0f store read)", r.name, user, d.VariationKey, sticky(d, d1), after-before)
		if d.VariationKey != d1.VariationKey {
			return fmt.Errorf("%s gave %s %s after the kill, not %s: not sticky", r.name, user, d.VariationKey, d1.VariationKey)
		}
	}
	const newUser = "bob"
	nb, err := decide(ctx, r1.api(), newUser)
	if err != nil {
		return fmt.Errorf("%s after the kill: %w", r1.name, err)
	}
	took, _, err = awaitRow(ctx, session, newUser)
	if err != nil {
		return err
	}
	b2, err := decide(ctx, r2.api(), newUser)
	if err != nil {
		return fmt.Errorf("%s after the kill: %w", r2.name, err)
	}
	bFresh, err := decide(ctx, r2.api(), newUser, "IGNORE_USER_PROFILE_SERVICE")
	if err != nil {
		return fmt.Errorf("%s after the kill: %w", r2.name, err)
	}
	say("   %s decides a new user, %s, with the node down: %s; on dc2's node %s later", r1.name, newUser, nb.VariationKey, took)
	say("   %s decides %s: %s (%s; revision 2 alone would give %s)", r2.name, newUser, b2.VariationKey, sticky(b2, nb), bFresh.VariationKey)
	if b2.VariationKey != nb.VariationKey {
		return fmt.Errorf("%s gave %s %s, not region 1's %s: not sticky", r2.name, newUser, b2.VariationKey, nb.VariationKey)
	}
	say("\n== %s kept %s in both regions, across a datafile change and a dead node", user, d1.VariationKey)
	return nil
}

// sticky says whether d served the variation first chose.
func sticky(d, first decision) string {
	if d.VariationKey == first.VariationKey {
		return "sticky: region 1's variation"
	}
	return "NOT sticky: region 1 chose " + first.VariationKey
}

// awaitRow polls dc2's node until it holds user's assignment in the
// demo's experiment, and returns how long that took and the variation ID.
func awaitRow(ctx context.Context, s *gocql.Session, user string) (time.Duration, string, error) {
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, replicatedWithin)
	defer cancel()
	for {
		var variation string
		err := s.Query(`SELECT variation_id FROM demo.assignments WHERE user_id = ? AND experiment_id = ?`, user, experimentID).
			WithContext(ctx).Consistency(gocql.One).Scan(&variation)
		if err == nil {
			return time.Since(began).Round(time.Millisecond), variation, nil
		}
		if !errors.Is(err, gocql.ErrNotFound) && ctx.Err() == nil {
			return 0, "", fmt.Errorf("reading %s's assignment on dc2's node: %w", user, err)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return 0, "", fmt.Errorf("%s's assignment did not reach dc2's node within %s: %w", user, replicatedWithin, err)
		}
	}
}

// awaitRevision waits until r serves the datafile revision want.
func awaitRevision(ctx context.Context, r *region, want string) error {
	ctx, cancel := context.WithTimeout(ctx, reloadWithin)
	defer cancel()
	for {
		got, err := revision(ctx, r.api())
		if err == nil && got == want {
			return nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("%s serves revision %q, not %s, %s after the file changed: %w", r.name, got, want, reloadWithin, err)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
