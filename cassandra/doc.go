// Package cassandra is the Cassandra-backed ups.Service: sticky assignments
// shared by every server of a stateless, multi-region fleet.
//
// Data model (cql/schema.cql): one partition per user ID and one clustering
// row per experiment,
//
//	PRIMARY KEY ((user_id), experiment_id)
//
// so Lookup is a single-partition read routed by token-aware policy to a
// replica, and Save upserts only the rows it carries. Each row is written
// with USING TTL set from the store's retention (or the experiment's
// override): the assignment stops being sticky that long after its last
// save, and Cassandra drops it by itself. A retention of 0 writes no TTL.
//
// Statements are built once per store from table metadata with gocqlx's
// query builders and bound with parameters only. Migrate creates the
// keyspace with its replication and applies the embedded schema with
// gocqlx/v2/migrate; running it twice is a no-op.
//
// The package takes its own options and knows nothing of stickybucket's
// configuration, so it is usable as a library (see Example):
// ClusterOptions for NewCluster (contact points, timeouts, authentication,
// TLS, local datacenter, consistency levels), MigrateOptions and
// Replication for Migrate, StoreOptions for NewStore and Open. Their zero
// values are a development setup on 127.0.0.1 at LOCAL_QUORUM, and each
// validates itself. Package stack converts the configuration into them.
package cassandra
