package admin

import (
	"context"
	"fmt"
	"io"
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
	store, done, ok := c.open(ctx, true)
	if !ok {
		return exitFail
	}
	done()
	fmt.Fprintf(stderr, "keyspace %s is migrated\n", store.Keyspace())
	return exitOK
}
