// Command cluster starts, for manual use, the Cassandra cluster the
// multi-datacenter tests run on — dc1 with three nodes and dc2 with one,
// each a Docker container on its own loopback address — and removes it
// again:
//
//	go run ./integration/cmd/cluster up     # make cluster-up
//	go run ./integration/cmd/cluster down   # make cluster-down
//
// up returns once every node sees every other alive (about a minute) and
// leaves the cluster running; it prints each node's address, datacenter
// and container name (for docker kill, pause and start) and a
// configuration for `stickybucket serve` in each datacenter. down removes
// every container the harness started, also those a killed test binary
// left behind. The image is STICKYBUCKET_CASSANDRA_IMAGE (the Makefile
// sets it from docker/cassandra/image.sh).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/stickybucket/stickybucket/integration/testcluster"
)

func main() {
	if len(os.Args) != 2 || (os.Args[1] != "up" && os.Args[1] != "down") {
		fmt.Fprintln(os.Stderr, "usage: cluster up|down")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	if os.Args[1] == "down" {
		n, err := testcluster.RemoveAll(ctx)
		fmt.Printf("removed %d container(s)\n", n)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := up(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func up(ctx context.Context) error {
	c, err := testcluster.Start(ctx, testcluster.Options{Nodes: []testcluster.NodeOptions{
		{DC: "dc1"}, {DC: "dc1"}, {DC: "dc1"}, {DC: "dc2"},
	}})
	if err != nil {
		return err
	}
	fmt.Printf("\ncluster %q is up (image %s); `make cluster-down` removes it\n\n", c.Name(), c.Image())
	for _, n := range c.Nodes() {
		fmt.Printf("  %-15s %s  container %s\n", n.Addr(), n.DC(), n.ContainerName())
	}
	hosts := func(dc string) string {
		var hs []string
		for _, n := range c.NodesIn(dc) {
			hs = append(hs, n.Addr())
		}
		return strings.Join(hs, ", ")
	}
	for _, dc := range []string{"dc1", "dc2"} {
		fmt.Printf(`
# stickybucket serve in %[1]s
store: {kind: cassandra}
cassandra: {hosts: [%[2]s]}
environment: demo
environments:
  demo:
    retention: 30d
    keyspace: demo
    replication: {class: NetworkTopologyStrategy, datacenters: {dc1: 3, dc2: 1}}
    local_dc: %[1]s
`, dc, hosts(dc))
	}
	return nil
}
