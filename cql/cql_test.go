package cql

import (
	"io/fs"
	"strings"
	"testing"
)

// TestMigrationStatements: gocqlx's migrate cuts a file into statements at
// every ';', comments included, so a ';' in a comment sends half a
// sentence to Cassandra. Every statement must be a whole CREATE or ALTER.
func TestMigrationStatements(t *testing.T) {
	files, err := fs.Glob(Migrations, "*.cql")
	if err != nil || len(files) < 2 {
		t.Fatalf("migrations %v, %v", files, err)
	}
	for _, name := range files {
		b, err := fs.ReadFile(Migrations, name)
		if err != nil {
			t.Fatal(err)
		}
		for i, stmt := range strings.Split(string(b), ";") {
			var code []string
			for _, line := range strings.Split(stmt, "\n") {
				if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "--") {
					code = append(code, l)
				}
			}
			if len(code) == 0 {
				continue
			}
			if first := strings.ToUpper(code[0]); !strings.HasPrefix(first, "CREATE ") && !strings.HasPrefix(first, "ALTER ") {
				t.Errorf("%s: statement %d starts %q: a ';' in a comment before it?", name, i+1, code[0])
			}
		}
	}
}
