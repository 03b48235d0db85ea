package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stickybucket/stickybucket/ups"
)

// TestFlushWritesTheTableToDisk: rows written to a new table sit in the
// memtable, and testcluster's Flush (an ALTER TABLE, no JMX) puts them in
// an SSTable whose files TableFiles lists, with the table's comment as it
// was. BenchmarkCapacity measures bytes on disk this way.
func TestFlushWritesTheTableToDisk(t *testing.T) {
	if !cass.Managed() {
		t.Skip("CASSANDRA_HOSTS names an existing cluster; the harness cannot look at its disks")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ks := keyspace(t, "flush")
	s := newStore(t, env(t, ks, time.Hour, nil))
	var comment string
	if err := admin.Query("SELECT comment FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'assignments'", ks).Scan(&comment); err != nil {
		t.Fatal(err)
	}
	node := cass.Node(0)
	dataFiles := func() (n int, size int64) {
		t.Helper()
		files, err := node.TableFiles(ctx, ks, "assignments")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f.Name, "-Data.db") {
				n++
				size += f.Size
			}
		}
		return n, size
	}
	for i := range 200 {
		p := ups.NewProfile(fmt.Sprintf("user-flush-%d", i))
		for e := range 5 {
			p.Set(fmt.Sprintf("exp-%d", e), "var")
		}
		if err := s.Save(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := dataFiles(); n != 0 {
		t.Fatalf("%d SSTables before the flush: the memtable should hold 1,000 rows", n)
	}
	if err := cass.Flush(ctx, ks, "assignments"); err != nil {
		t.Fatal(err)
	}
	n, size := dataFiles()
	if n != 1 || size == 0 {
		t.Fatalf("after Flush: %d SSTables, %d bytes of Data.db; want one, not empty", n, size)
	}
	var after string
	if err := admin.Query("SELECT comment FROM system_schema.tables WHERE keyspace_name = ? AND table_name = 'assignments'", ks).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != comment {
		t.Errorf("comment after Flush = %q, want %q as before", after, comment)
	}
	if _, err := node.TableFiles(ctx, ks, "no_such_table"); err == nil {
		t.Error("TableFiles of a table that does not exist succeeded")
	}
	if err := cass.Flush(ctx, ks, "assignments; DROP KEYSPACE "+ks); err == nil {
		t.Error("Flush took a table name that is not a CQL identifier")
	}
}
