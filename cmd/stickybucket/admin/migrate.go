package admin

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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
	st, store, err := openStore(ctx, *c.config, true, log)
	if err != nil {
		log.Error("migrate", "err", err)
		return exitFail
	}
	closeStore(ctx, st, log)
	fmt.Fprintf(stderr, "keyspace %s is migrated\n", store.Keyspace())
	return exitOK
}
