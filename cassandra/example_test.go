package cassandra_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/ups"
)

// Example shows the production wiring: configuration, migration, store. It
// needs a running Cassandra, so it is compiled but not run by go test; the
// integration package runs the same steps against a real node.
func Example() {
	ctx := context.Background()
	cfg, err := config.Load("stickybucket.yaml", os.LookupEnv)
	if err != nil {
		log.Fatal(err)
	}
	env, err := cfg.Active()
	if err != nil {
		log.Fatal(err)
	}
	cluster, err := cassandra.NewCluster(cfg.Cassandra, env)
	if err != nil {
		log.Fatal(err)
	}
	if err := cassandra.Migrate(ctx, cluster, env, nil); err != nil {
		log.Fatal(err)
	}
	store, err := cassandra.Open(cfg)
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
