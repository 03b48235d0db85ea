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
// with USING TTL set from the environment's retention (or the experiment's
// override): the assignment stops being sticky that long after its last
// save, and Cassandra drops it by itself. A retention of 0 writes no TTL.
//
// Statements are built once per store from table metadata with gocqlx's
// query builders and bound with parameters only. Migrate creates the
// keyspace with the environment's replication and applies the embedded
// schema with gocqlx/v2/migrate; running it twice is a no-op.
package cassandra
