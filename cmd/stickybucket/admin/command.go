package admin

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/stickybucket/stickybucket/cassandra"
	"github.com/stickybucket/stickybucket/config"
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
// usage line, and parsing that accepts flags before and after the
// positional arguments.
type command struct {
	name   string // as typed: "profiles get"
	args   string // the positional arguments in the usage line
	about  string // what the command does, for its usage text
	fs     *flag.FlagSet
	config *string
	stderr io.Writer
}

func newCommand(name, args, about string, stderr io.Writer) *command {
	c := &command{name: name, args: args, about: about, fs: flag.NewFlagSet(name, flag.ContinueOnError), stderr: stderr}
	c.fs.SetOutput(stderr)
	c.config = c.fs.String("config", DefaultConfigFile, "configuration `file`; STICKYBUCKET_* environment variables override it")
	c.fs.Usage = c.usage
	return c
}

func (c *command) usage() {
	fmt.Fprintf(c.stderr, "Usage: stickybucket %s [flags]%s\n\n%s\n\nFlags:\n", c.name, c.args, c.about)
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

// openStore is the wiring every profiles command shares: configuration
// with environment overrides, then a store on the active environment.
func openStore(configPath string) (*cassandra.Store, error) {
	cfg, err := config.Load(configPath, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	return cassandra.Open(cfg)
}

func closeStore(s *cassandra.Store) { s.Close() }
