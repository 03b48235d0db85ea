// Package admin holds stickybucket's administration commands, which talk
// to the Cassandra cluster a configuration file names:
//
//	stickybucket migrate [--config FILE]
//	stickybucket profiles get USER [--config FILE]
//	stickybucket profiles delete USER [--config FILE]
//	stickybucket profiles export [--out FILE] [--ranges N] [--concurrency N] [--consistency LEVEL] [--config FILE]
//	stickybucket profiles import FILE|- [--concurrency N] [--config FILE]
//
// Flags may come before or after the arguments.
//
// Each command is a function taking its arguments and standard streams and
// returning an exit status, so package main only dispatches to it and tests
// run it in-process. Data goes to stdout (a profile, an export); progress,
// summaries and errors go to stderr. The exit status is 0 on success, 1
// when the command ran but something failed (including bad lines in an
// import), 2 for a wrong command line.
//
// The wiring lives in one function, openStore: config.Load with
// environment overrides, then the composition root (stack.Open) for the
// Cassandra store of the active environment, without cache or async
// saves, so every write is in Cassandra when the command exits.
package admin
