package testcluster

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOptionsDefaults(t *testing.T) {
	t.Setenv(ImageEnv, "example/cassandra:test")
	o, err := Options{}.withDefaults("abcd")
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Nodes) != 1 || o.Nodes[0].DC != DefaultDC || o.Nodes[0].Rack != DefaultRack || o.Nodes[0].TokenAllocationRF != 1 {
		t.Errorf("nodes = %+v, want one default node", o.Nodes)
	}
	if o.Image != "example/cassandra:test" || o.ClusterName != "sbtest-abcd" || o.RingDelay != 100*time.Millisecond ||
		o.Heap != "512M" || o.NumTokens != 16 || o.Logf == nil {
		t.Errorf("defaults = %+v", o)
	}

	t.Setenv(ImageEnv, "")
	o, err = Options{Nodes: []NodeOptions{{DC: "dc1"}, {DC: "dc1"}, {DC: "dc1"}, {DC: "dc1"}, {DC: "dc2"}}}.withDefaults("x")
	if err != nil {
		t.Fatal(err)
	}
	if o.Image != DefaultImage || o.RingDelay != 5*time.Second {
		t.Errorf("image %q ring delay %v", o.Image, o.RingDelay)
	}
	var rfs []int
	for _, n := range o.Nodes {
		rfs = append(rfs, n.TokenAllocationRF)
	}
	if want := []int{3, 3, 3, 3, 1}; !slices.Equal(rfs, want) {
		t.Errorf("token allocation RFs %v, want %v (nodes per DC, at most 3)", rfs, want)
	}
}

func TestOptionsRejectBadInput(t *testing.T) {
	for name, o := range map[string]Options{
		"DC with a quote":     {Nodes: []NodeOptions{{DC: "dc'1"}}},
		"rack with a space":   {Nodes: []NodeOptions{{Rack: "rack 1"}}},
		"negative RF":         {Nodes: []NodeOptions{{TokenAllocationRF: -1}}},
		"cluster name with |": {ClusterName: "a|b"},
		"heap without unit":   {Heap: "512"},
		"negative tokens":     {NumTokens: -1},
		"negative ring":       {RingDelay: -time.Second},
		"JVM option spaces":   {JVMOptions: []string{"-Da=b -Dc=d"}},
	} {
		if _, err := o.withDefaults("x"); err == nil || !strings.HasPrefix(err.Error(), "testcluster: ") {
			t.Errorf("%s: err = %v, want a testcluster error", name, err)
		}
	}
}

func TestSeedsAndEnv(t *testing.T) {
	o, err := Options{Nodes: []NodeOptions{{DC: "dc1"}, {DC: "dc2", Rack: "r9"}, {DC: "dc1"}}, ClusterName: "c"}.withDefaults("x")
	if err != nil {
		t.Fatal(err)
	}
	addrs := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	s := seeds(o.Nodes, addrs)
	if want := []string{"127.0.0.2", "127.0.0.3"}; !slices.Equal(s, want) {
		t.Fatalf("seeds = %v, want the first node of each DC %v", s, want)
	}
	env := o.env(1, addrs[1], s)
	for k, want := range map[string]string{
		"CASSANDRA_LISTEN_ADDRESS":               "127.0.0.3",
		"CASSANDRA_SEEDS":                        "127.0.0.2,127.0.0.3",
		"CASSANDRA_DC":                           "dc2",
		"CASSANDRA_RACK":                         "r9",
		"CASSANDRA_ENDPOINT_SNITCH":              "GossipingPropertyFileSnitch",
		"CASSANDRA_ALLOCATE_TOKENS_FOR_LOCAL_RF": "1",
		"CASSANDRA_RING_DELAY_MS":                "5000",
		"CASSANDRA_CLUSTER_NAME":                 "c",
	} {
		if env[k] != want {
			t.Errorf("%s = %q, want %q", k, env[k], want)
		}
	}
}

func TestPickAddrsSkipsBusyAndReserved(t *testing.T) {
	busy := map[string]bool{"127.0.0.254": true}
	got, err := pickAddrs(2, busy)
	if err != nil {
		t.Skipf("no free loopback addresses here: %v", err)
	}
	defer release(got)
	if slices.Contains(got, "127.0.0.254") {
		t.Errorf("picked busy address: %v", got)
	}
	again, err := pickAddrs(1, busy)
	if err != nil {
		t.Skipf("no free loopback addresses here: %v", err)
	}
	defer release(again)
	if slices.Contains(got, again[0]) {
		t.Errorf("handed %s out twice", again[0])
	}
}
