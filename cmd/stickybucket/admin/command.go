package admin

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
	"github.com/stickybucket/stickybucket/stack"
)

// Exit statuses, as package main uses them.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// DefaultConfigFile is read when --config is not given.
const DefaultConfigFile = "stickybucket.yaml"

// command is what every admin command shares: a flag set with --config, a
// usage line, parsing that accepts flags before and after the positional
// arguments, a logger on stderr and the store (open).
type command struct {
	name   string // as typed: "profiles get"
	args   string // the positional arguments in the usage line
	flags  string // the flags in the usage line, --config last
	about  string // what the command does, for its usage text
	fs     *flag.FlagSet
	config *string
	stderr io.Writer
	log    *slog.Logger
}

func newCommand(name, args, about string, stderr io.Writer) *command {
	c := &command{name: name, args: args, flags: configFlag, about: about, fs: flag.NewFlagSet(name, flag.ContinueOnError), stderr: stderr,
		log: slog.New(slog.NewTextHandler(stderr, nil))}
	c.fs.SetOutput(stderr)
	c.config = c.fs.String("config", DefaultConfigFile, "configuration `file`; STICKYBUCKET_* environment variables override it")
	c.fs.Usage = c.usage
	return c
}

// configFlag is --config in a usage line.
const configFlag = "[--config FILE]"

// withFlags puts the command's own flags, as written in its usage line
// (the README's and the top-level usage's), before --config.
func (c *command) withFlags(flags string) {
	c.flags = flags + " " + configFlag
}

func (c *command) usage() {
	fmt.Fprintf(c.stderr, "Usage: stickybucket %s%s %s\n\n%s\n\nFlags:\n", c.name, c.args, c.flags, c.about)
	c.fs.PrintDefaults()
}

// parse reads the flags, wherever they are, and wants exactly n positional
// arguments. When ok is false the command must return status.
func (c *command) parse(args []string, n int) (positional []string, status int, ok bool) {
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if len(positional) != n {
		if n == 0 {
			fmt.Fprintf(c.stderr, "stickybucket %s: takes no arguments, got %q\n\n", c.name, positional)
		} else {
			fmt.Fprintf(c.stderr, "stickybucket %s: expects%s, got %d argument(s)\n\n", c.name, c.args, len(positional))
		}
		c.usage()
		return nil, exitUsage, false
	}
	return positional, exitOK, true
}

// openStore is the wiring every admin command shares, through the
// composition root: configuration with environment overrides, then the
// Cassandra store of the active environment (and, with migrate, its
// keyspace and schema first). The commands work on the store itself, with
// no cache and synchronous saves, whatever the service's layers are: a
// command's writes are in Cassandra when it exits. The returned stack must
// be closed.
func openStore(ctx context.Context, configPath string, migrate bool, log *slog.Logger) (*stack.Stack, *cassandra.Store, error) {
	cfg, err := config.Load(configPath, os.LookupEnv)
	if err != nil {
		return nil, nil, err
	}
	cfg.Store.Kind = config.StoreCassandra
	cfg.Store.Cache = config.Cache{}
	cfg.Store.Saves.Mode = config.SavesSync
	cfg.Store.Breaker.Disabled = true
	// A file written for the in-memory store lacks what Cassandra needs
	// (an environment, its replication): say so before connecting.
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("config %s, for the Cassandra store: %w", configPath, err)
	}
	st, err := stack.Open(ctx, cfg, stack.Options{Migrate: migrate, Log: log})
	if err != nil {
		return nil, nil, err
	}
	store, ok := st.Store.(*cassandra.Store)
	if !ok {
		_ = st.Close(ctx)
		return nil, nil, fmt.Errorf("the configured store is %T, not Cassandra", st.Store)
	}
	return st, store, nil
}

// open opens the store from --config (openStore), logging why it could
// not. When ok is false the command must exit with exitFail; otherwise it
// must call done, which closes the store and logs what Close reports.
func (c *command) open(ctx context.Context, migrate bool) (store *cassandra.Store, done func(), ok bool) {
	st, store, err := openStore(ctx, *c.config, migrate, c.log)
	if err != nil {
		msg := "open store"
		if migrate {
			msg = "migrate"
		}
		c.log.Error(msg, "err", err)
		return nil, nil, false
	}
	return store, func() {
		if err := st.Close(ctx); err != nil {
			c.log.Warn("close store", "err", err)
		}
	}, true
}
