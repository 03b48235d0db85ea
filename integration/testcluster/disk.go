package testcluster

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gocql/gocql"
)

// File is one file in a table's data directory on a node.
type File struct {
	// Name is the file's name, such as nb-1-big-Data.db.
	Name string
	// Size is its apparent size in bytes, as du -b and ls -l count it.
	Size int64
}

// identifier is an unquoted CQL name: keyspaces and tables given to the
// disk methods end up in CQL text (ALTER takes no bind markers) and in
// paths, so nothing else is accepted.
var identifier = regexp.MustCompile(`^[A-Za-z0-9_]{1,48}$`)

func checkTable(keyspace, table string) error {
	if !identifier.MatchString(keyspace) || !identifier.MatchString(table) {
		return fmt.Errorf("testcluster: table %q.%q: want unquoted CQL names (letters, digits, '_')", keyspace, table)
	}
	return nil
}

// TableFiles lists the files of keyspace.table's data directory under each
// of the node's data_file_directories: the components of its live SSTables
// (Data.db, Index.db, Filter.db, …). Snapshots and backups live in
// subdirectories and are left out, and so is what is still in memtables:
// call Cluster.Flush first.
func (n *Node) TableFiles(ctx context.Context, keyspace, table string) ([]File, error) {
	if err := checkTable(keyspace, table); err != nil {
		return nil, err
	}
	var id gocql.UUID
	err := n.query(ctx, func(s *gocql.Session) error {
		return s.Query("SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
			strings.ToLower(keyspace), strings.ToLower(table)).WithContext(ctx).Scan(&id)
	})
	if err != nil {
		return nil, fmt.Errorf("testcluster: id of table %s.%s on %s: %w", keyspace, table, n.addr, err)
	}
	setting, err := n.setting(ctx, "data_file_directories")
	if err != nil {
		return nil, err
	}
	dirs := parseDirList(setting)
	if len(dirs) == 0 {
		return nil, fmt.Errorf("testcluster: data_file_directories of %s is %q: no directory in it", n.addr, setting)
	}
	var files []File
	for _, dir := range dirs {
		path := dir + "/" + strings.ToLower(keyspace) + "/" + strings.ToLower(table) + "-" + strings.ReplaceAll(id.String(), "-", "")
		out, err := n.exec(ctx, "find", path, "-maxdepth", "1", "-type", "f", "-printf", `%s %f\n`)
		if err != nil {
			return nil, err
		}
		fs, err := parseFileList(out)
		if err != nil {
			return nil, fmt.Errorf("testcluster: files of %s on %s: %w", path, n.addr, err)
		}
		files = append(files, fs...)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return files, nil
}

// parseDirList reads a list setting as system_views.settings shows it:
// "[/a, /b]" or a single path.
func parseDirList(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	var dirs []string
	for _, d := range strings.Split(s, ",") {
		if d = strings.TrimSpace(d); strings.HasPrefix(d, "/") {
			dirs = append(dirs, strings.TrimRight(d, "/"))
		}
	}
	return dirs
}

// parseFileList reads find's "-printf '%s %f\n'" output: a size and a
// name per line.
func parseFileList(out string) ([]File, error) {
	var files []File
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\n")
		if line == "" {
			continue
		}
		size, name, ok := strings.Cut(line, " ")
		n, err := strconv.ParseInt(size, 10, 64)
		if !ok || err != nil || n < 0 || name == "" {
			return nil, fmt.Errorf("line %q is not a size and a file name", line)
		}
		files = append(files, File{Name: name, Size: n})
	}
	return files, nil
}

// Flush writes keyspace.table's memtables to SSTables on every running
// node, without JMX (nodetool flush needs it; the nodes open no JMX port).
// Any ALTER TABLE makes Cassandra 5.0 flush the table on each node as it
// applies the schema change (its log says "Enqueuing flush of <table>,
// Reason: SCHEMA_CHANGE"), so Flush sets the table's comment to a marker
// and back, waits for schema agreement, then waits until no node has a
// flush running or queued. A graceful restart found nothing left to
// replay from the commit log afterwards.
func (c *Cluster) Flush(ctx context.Context, keyspace, table string) error {
	if err := checkTable(keyspace, table); err != nil {
		return err
	}
	nodes := c.running()
	if len(nodes) == 0 {
		return fmt.Errorf("testcluster: flush %s.%s: no running node", keyspace, table)
	}
	n := nodes[0]
	err := n.query(ctx, func(s *gocql.Session) error {
		var comment string
		if err := s.Query("SELECT comment FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
			strings.ToLower(keyspace), strings.ToLower(table)).WithContext(ctx).Scan(&comment); err != nil {
			return fmt.Errorf("read comment: %w", err)
		}
		for _, cm := range []string{comment + " (flushing)", comment} {
			alter := "ALTER TABLE " + keyspace + "." + table + " WITH comment = '" + strings.ReplaceAll(cm, "'", "''") + "'"
			if err := s.Query(alter).WithContext(ctx).Exec(); err != nil {
				return fmt.Errorf("%s: %w", alter, err)
			}
		}
		return s.AwaitSchemaAgreement(ctx)
	})
	if err != nil {
		return fmt.Errorf("testcluster: flush %s.%s through %s: %w", keyspace, table, n.addr, err)
	}
	for _, n := range nodes {
		if err := n.awaitIdle(ctx, "flush", isFlushPool); err != nil {
			return err
		}
	}
	return nil
}

// WaitCompactions waits until the node has run no compaction and queued
// none for quiet: LeveledCompactionStrategy starts compacting a few
// seconds after flushes, and the files of an SSTable being compacted away
// stay until the compaction ends.
func (n *Node) WaitCompactions(ctx context.Context, quiet time.Duration) error {
	began := time.Now()
	var (
		idleSince time.Time
		done      int64 = -1
	)
	for {
		st, err := n.poolStats(ctx, isCompactionPool)
		if err != nil {
			return err
		}
		running, err := n.sstableTasks(ctx)
		if err != nil {
			return err
		}
		switch {
		case st.busy > 0 || running > 0 || st.completed != done:
			idleSince, done = time.Time{}, st.completed
		case idleSince.IsZero():
			idleSince = time.Now()
		case time.Since(idleSince) >= quiet:
			n.cluster.logf("testcluster: no compaction on %s for %s, %s after waiting began", n.addr, quiet, since(began))
			return nil
		}
		if err := sleep(ctx, pollEvery); err != nil {
			return fmt.Errorf("testcluster: compactions on %s still running: %w", n, err)
		}
	}
}

func isFlushPool(name string) bool {
	return strings.HasPrefix(name, "MemtableFlushWriter") || strings.HasPrefix(name, "PerDiskMemtableFlushWriter") ||
		name == "MemtablePostFlush"
}

func isCompactionPool(name string) bool { return name == "CompactionExecutor" }

// poolUse sums the tasks of some of a node's thread pools.
type poolUse struct {
	busy      int   // active and pending
	completed int64 // completed so far
}

// poolStats reads system_views.thread_pools for the pools that match.
func (n *Node) poolStats(ctx context.Context, match func(string) bool) (poolUse, error) {
	var u poolUse
	err := n.query(ctx, func(s *gocql.Session) error {
		u = poolUse{}
		iter := s.Query("SELECT name, active_tasks, pending_tasks, completed_tasks FROM system_views.thread_pools").WithContext(ctx).Iter()
		var (
			name            string
			active, pending int
			completed       int64
		)
		for iter.Scan(&name, &active, &pending, &completed) {
			if match(name) {
				u.busy += active + pending
				u.completed += completed
			}
		}
		return iter.Close()
	})
	if err != nil {
		return poolUse{}, fmt.Errorf("testcluster: read thread_pools of %s: %w", n.addr, err)
	}
	return u, nil
}

// sstableTasks counts the compactions and other SSTable tasks running on
// the node (system_views.sstable_tasks).
func (n *Node) sstableTasks(ctx context.Context) (int, error) {
	count := 0
	err := n.query(ctx, func(s *gocql.Session) error {
		count = 0
		iter := s.Query("SELECT keyspace_name FROM system_views.sstable_tasks").WithContext(ctx).Iter()
		var ks string
		for iter.Scan(&ks) {
			count++
		}
		return iter.Close()
	})
	if err != nil {
		return 0, fmt.Errorf("testcluster: read sstable_tasks of %s: %w", n.addr, err)
	}
	return count, nil
}

// awaitIdle waits until the pools that match have had no task active or
// pending in two reads in a row.
func (n *Node) awaitIdle(ctx context.Context, what string, match func(string) bool) error {
	idle := 0
	for {
		st, err := n.poolStats(ctx, match)
		if err != nil {
			return err
		}
		if st.busy == 0 {
			idle++
		} else {
			idle = 0
		}
		if idle >= 2 {
			return nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("testcluster: %s on %s still running: %w", what, n, err)
		}
	}
}
