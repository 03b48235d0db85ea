package cassandra

import (
	"fmt"
	"regexp"

	"github.com/stickybucket/stickybucket/internal/clip"
)

// keyspaceName matches what Cassandra accepts as an unquoted keyspace name.
// The name ends up in DDL and in every statement (CQL cannot bind
// identifiers), so it must never be anything else.
var keyspaceName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,47}$`)

// datacenterName keeps datacenter names to what snitches produce; they are
// written into the replication map of CREATE KEYSPACE.
var datacenterName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$`)

// maxEcho bounds how much of a name an error message repeats.
const maxEcho = 64

// ValidateKeyspace checks that name is an unquoted Cassandra keyspace name.
func ValidateKeyspace(name string) error {
	if !keyspaceName.MatchString(name) {
		return fmt.Errorf("%q is not a valid keyspace name (a letter, then up to 47 letters, digits or underscores)", clip.To(name, maxEcho))
	}
	return nil
}

// ValidateDatacenter checks that name looks like a datacenter name a
// snitch produces.
func ValidateDatacenter(name string) error {
	if !datacenterName.MatchString(name) {
		return fmt.Errorf("%q is not a valid datacenter name", clip.To(name, maxEcho))
	}
	return nil
}
