package cassandra

import (
	"fmt"
	"slices"

	"github.com/scylladb/gocqlx/v2/qb"
	"github.com/scylladb/gocqlx/v2/table"
)

// assignmentsTable mirrors cql/schema.cql.
const assignmentsTable = "assignments"

// statements are the store's CQL, built once per store from table metadata
// so no call ever assembles CQL from input. Every value is a bind marker.
type statements struct {
	// lookup reads a whole partition, lookupIn some of its rows, lookupOne
	// one row.
	lookup, lookupIn, lookupOne string
	// insert upserts a row; insertNew writes it only if it does not exist
	// (a lightweight transaction); replace writes its values only if the
	// row still holds the variation and decision time given (null: none),
	// in a conditional batch with insert (SaveReplacing).
	insert, insertNew, replace string
	delete                     string
}

// Column order of the insert statements' bind markers; insertArgs relies
// on it and newStatements checks it, so a change in gocqlx's rendering
// fails at construction instead of binding values to the wrong columns.
var insertNames = []string{"user_id", "experiment_id", "variation_id", "decided_at", "ttl"}

// Column order of the conditional update's bind markers; replaceArgs
// relies on it.
var replaceNames = []string{"ttl", "variation_id", "decided_at", "user_id", "experiment_id", "was_variation_id", "was_decided_at"}

func newStatements(keyspace string) (statements, error) {
	t := table.New(table.Metadata{
		Name:    keyspace + "." + assignmentsTable,
		Columns: []string{"user_id", "experiment_id", "variation_id", "decided_at"},
		PartKey: []string{"user_id"},
		SortKey: []string{"experiment_id"},
	})
	ttl := qb.As("TTL(variation_id)", "ttl")
	lookup, _ := t.SelectBuilder("experiment_id", "variation_id", "decided_at", ttl).ToCql()
	lookupIn, _ := t.SelectBuilder("experiment_id", "variation_id", "decided_at", ttl).
		Where(qb.In("experiment_id")).ToCql()
	lookupOne, _ := t.SelectBuilder("variation_id", "decided_at", ttl).
		Where(qb.Eq("experiment_id")).ToCql()
	insert, names := t.InsertBuilder().TTLNamed("ttl").ToCql()
	if !slices.Equal(names, insertNames) {
		return statements{}, fmt.Errorf("insert statement binds %v, want %v", names, insertNames)
	}
	insertNew, names := t.InsertBuilder().Unique().TTLNamed("ttl").ToCql()
	if !slices.Equal(names, insertNames) {
		return statements{}, fmt.Errorf("conditional insert statement binds %v, want %v", names, insertNames)
	}
	replace, names := qb.Update(t.Name()).TTLNamed("ttl").Set("variation_id", "decided_at").
		Where(qb.Eq("user_id"), qb.Eq("experiment_id")).
		If(qb.EqNamed("variation_id", "was_variation_id"), qb.EqNamed("decided_at", "was_decided_at")).ToCql()
	if !slices.Equal(names, replaceNames) {
		return statements{}, fmt.Errorf("conditional update statement binds %v, want %v", names, replaceNames)
	}
	del, _ := qb.Delete(t.Name()).Where(qb.Eq("user_id")).ToCql()
	return statements{
		lookup: lookup, lookupIn: lookupIn, lookupOne: lookupOne,
		insert: insert, insertNew: insertNew, replace: replace, delete: del,
	}, nil
}
