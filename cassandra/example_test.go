package cassandra_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/ups"
)

// Example uses the store as a library: options, migration, store. It
// needs a running Cassandra, so it is compiled but not run by go test; the
// integration package runs the same steps against a real node.
func Example() {
	ctx := context.Background()
	cluster, err := cassandra.NewCluster(cassandra.ClusterOptions{
		Hosts:    []string{"127.0.0.1"},
		Keyspace: "stickybucket",
		LocalDC:  "dc1",
		Timeout:  2 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	err = cassandra.Migrate(ctx, cluster, cassandra.MigrateOptions{
		Keyspace:    "stickybucket",
		Replication: cassandra.Replication{Datacenters: map[string]int{"dc1": 3}},
		LocalDC:     "dc1",
	})
	if err != nil {
		log.Fatal(err)
	}
	store, err := cassandra.Open(cluster, cassandra.StoreOptions{
		Keyspace:  "stickybucket",
		Retention: ups.Retention{Default: 90 * 24 * time.Hour},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close(ctx)

	p := ups.NewProfile("user-42")
	p.Set("1001", "2001")
	if err := store.Save(ctx, p); err != nil {
		log.Fatal(err)
	}
	got, err := store.Lookup(ctx, "user-42")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.Assignments["1001"].VariationID, got.Assignments["1001"].ExpiresAt)
}
