// Package config holds stickybucket's typed configuration: how to reach the
// Cassandra cluster, and per named environment (development, staging,
// production, …) how long assignments stay sticky, which keyspace and
// replication hold them, and which consistency levels read and write them.
//
// Configuration is read from YAML (see stickybucket.example.yaml at the
// repository root), then environment variables named STICKYBUCKET_* override
// single keys, then everything is validated at once; each error names the
// YAML key or variable at fault.
package config
