package admin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
)

// Migrate runs `stickybucket migrate`: it creates the active environment's
// keyspace with its replication if it is missing and applies the schema.
// Running it again changes nothing.
func Migrate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCommand("migrate", "",
		"Creates the active environment's keyspace (with its configured replication) if it\n"+
			"is missing and applies the embedded schema migrations. Safe to run again.", stderr)
	if _, status, ok := c.parse(args, 0); !ok {
		return status
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := config.Load(*c.config, os.LookupEnv)
	if err != nil {
		log.Error("load configuration", "err", err)
		return exitFail
	}
	env, err := cfg.Active()
	if err != nil {
		log.Error("load configuration", "file", *c.config, "err", err)
		return exitFail
	}
	cluster, err := cassandra.NewCluster(cfg.Cassandra, env)
	if err != nil {
		log.Error("configure cluster", "err", err)
		return exitFail
	}
	if err := cassandra.Migrate(ctx, cluster, env, log); err != nil {
		log.Error("migrate", "err", err)
		return exitFail
	}
	fmt.Fprintf(stderr, "keyspace %s is migrated (environment %s)\n", env.Keyspace, cfg.Environment)
	return exitOK
}
