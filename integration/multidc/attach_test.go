package multidc

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stickybucket/stickybucket/integration/testcluster"
)

// TestAttachDescribesTheCluster: attaching to the started cluster through
// any one node (as CASSANDRA_HOSTS does) finds every node once, in its DC.
func TestAttachDescribesTheCluster(t *testing.T) {
	if !cluster.Managed() {
		t.Skip("the cluster is already attached")
	}
	type member struct{ addr, dc string }
	var want []member
	for _, n := range cluster.Nodes() {
		want = append(want, member{n.Addr(), n.DC()})
	}
	slices.SortFunc(want, func(a, b member) int { return strings.Compare(a.addr, b.addr) })
	for _, via := range cluster.Nodes() {
		c, err := testcluster.Attach(context.Background(), []string{via.Addr()}, cluster.Port(), t.Logf)
		if err != nil {
			t.Fatalf("attach through %s: %v", via, err)
		}
		var got []member
		for _, n := range c.Nodes() {
			got = append(got, member{n.Addr(), n.DC()})
		}
		if !slices.Equal(got, want) {
			t.Errorf("attached through %s: nodes %v, want %v", via, got, want)
		}
		if c.Managed() || c.Name() != cluster.Name() {
			t.Errorf("attached through %s: managed %v, name %q; want an unmanaged %q", via, c.Managed(), c.Name(), cluster.Name())
		}
		if err := c.Node(0).Kill(context.Background()); !errors.Is(err, testcluster.ErrNotManaged) {
			t.Errorf("Kill on an attached node = %v, want ErrNotManaged", err)
		}
		c.Close(context.Background())
	}
}
