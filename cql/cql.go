// Package cql holds stickybucket's Cassandra schema as migration files,
// embedded in the binary so a deployment applies exactly the schema it was
// built with.
package cql

import "embed"

// Migrations holds the *.cql files in file-name order, as
// gocqlx/v2/migrate.FromFS expects.
//
//go:embed *.cql
var Migrations embed.FS
