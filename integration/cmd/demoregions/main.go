// Command demoregions shows assignments staying sticky across two regions
// (make demo-regions): the four-node, two-datacenter Cassandra cluster of
// the multi-datacenter tests (dc1 with three nodes, dc2 with one; see
// integration/testcluster) and one `stickybucket serve` container per
// datacenter from the service image, each on its own loopback address on
// the host network, talking to its own datacenter's nodes only
// (local_dc, LOCAL_QUORUM). It prints, in three steps: a user decided
// in region 1 (dc1, datafile revision 1), and when the assignment reached
// dc2's node; region 2's datafile replaced by revision 2 (which moves
// every user), the same user decided there — the variation region 1
// chose — and what revision 2 would have given without profiles; a dc1
// node killed (docker kill), and the user still sticky in both regions
// once the caches have expired, plus a new user decided in region 1 and
// served the same variation in region 2.
//
//	demoregions --image stickybucket/stickybucket:<hash>
//
// The Cassandra image is STICKYBUCKET_CASSANDRA_IMAGE (the Makefile sets
// it from docker/cassandra/image.sh). Every container it starts is
// removed when it ends, also on failure or Ctrl-C (SIGINT, SIGTERM);
// serve containers a killed run left behind are removed at the next start
// (labelled dev.stickybucket.demo=regions), cluster nodes by
// `make cluster-down`. Every wait is bounded; the whole run is bounded by
// --timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	image := flag.String("image", "", "the service image (make image prints it)")
	timeout := flag.Duration("timeout", 15*time.Minute, "give up after this long")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: demoregions --image IMAGE [--timeout DURATION]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *image == "" || flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	// The first SIGINT or SIGTERM cancels the run; later ones are caught
	// and ignored until the clean-up is done.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	err := run(ctx, *image, os.Stdout)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "demoregions: interrupted; containers removed")
		} else {
			fmt.Fprintf(os.Stderr, "demoregions: %v\n", err)
		}
		stop()
		os.Exit(1)
	}
}
