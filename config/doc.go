// Package config holds stickybucket's typed configuration: how to reach the
// Cassandra cluster, and per named environment (development, staging,
// production, …) how long assignments stay sticky, which keyspace and
// replication hold them, and which consistency levels read and write them.
//
// Configuration is read from YAML (see stickybucket.example.yaml at the
// repository root), then environment variables named STICKYBUCKET_* override
// single keys, then everything is validated at once; each error names the
// YAML key at fault, with its line, or the variable that set it.
//
// Reading is strict, so that nothing written is silently replaced:
//
//   - The file is one YAML document of at most MaxSize bytes; a second
//     document ("---") is an error.
//   - Every key must be known; a key left out gets its default, but a key
//     written must hold a valid value: null (`~`, or nothing after the
//     colon) is an error anywhere, as is a null map key, and `port: 0`,
//     `timeout: 0s` or `keyspace: ""` are errors rather than defaults.
//   - Connection timeouts lie within MinTimeout and MaxTimeout (1 ms to
//     10 min); retentions within 0 (forever) and 20 years, in whole
//     seconds.
//   - Keys only the Cassandra store uses are required only with it: with
//     the in-memory store (the default) a file may define no environment
//     at all, and then DefaultEnvironment is in force with the defaults of
//     its keys; with store.kind cassandra (or the migrate and profiles
//     commands) an environment and its replication are required.
//   - An environment variable that is set but empty counts as unset.
//   - YAML syntax errors name the line and the key they are at or near.
//   - A value of the wrong kind (a word where a number belongs, a mapping
//     where a list belongs) names the exact key and its line, in a flow
//     mapping too, and says what the key takes in YAML's words (text, a
//     whole number, a list, a mapping, a duration…), never a Go type.
//   - Every problem is reported at once: the file's, the variables' and
//     validation's, at most 20 (then a count of the rest). A value refused
//     keeps its default, and validation does not report about it again.
//   - Anchors, aliases and merge keys (<<) work; a document that expands
//     through aliases to more than 100,000 nodes is refused.
//
// To add a key: a field with its yaml tag (and, for an environment, its
// default in defaultEnvironment or, for the rest, in Default), an entry in
// envOverrides if a variable may set it, and its check in validate.go (for
// the connection and the environments) or in its section's validate
// method in service.go (store, server, datafiles, datafile_limits, log).
// Keyspace and datacenter names follow package cassandra's rules.
// Unknown-key, null and kind checks (a list, a mapping, a whole number…)
// and error paths follow from the struct; a type with an UnmarshalYAML of
// its own also needs its words in tree.go (expected, kindFits).
package config
