package testcluster

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/client"
)

// Loopback addresses this process has handed out and not yet released:
// two clusters of one test binary must not pick the same one between
// choosing it and binding it.
var reserved = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

func release(addrs []string) {
	reserved.Lock()
	defer reserved.Unlock()
	for _, a := range addrs {
		delete(reserved.addrs, a)
	}
}

// pickAddrs reserves n loopback addresses among 127.0.0.2 to 127.0.0.254
// that no other container claims (busy) and whose CQL and storage ports
// are free. It scans from the top down: code that scans from 127.0.0.2
// upwards checking ports only (the single-node tests before this harness)
// would otherwise take an address picked here whose node has not started
// yet.
func pickAddrs(n int, busy map[string]bool) ([]string, error) {
	reserved.Lock()
	defer reserved.Unlock()
	var got []string
	for i := 254; i >= 2 && len(got) < n; i-- {
		addr := "127.0.0." + strconv.Itoa(i)
		if reserved.addrs[addr] || busy[addr] || !portsFree(addr, CQLPort, StoragePort) {
			continue
		}
		got = append(got, addr)
	}
	if len(got) < n {
		return nil, fmt.Errorf("testcluster: only %d of %d loopback addresses in 127.0.0.2-254 have ports %d and %d free", len(got), n, CQLPort, StoragePort)
	}
	for _, a := range got {
		reserved.addrs[a] = true
	}
	return got, nil
}

// portsFree reports whether each port can be bound on addr right now.
func portsFree(addr string, ports ...int) bool {
	for _, p := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(p)))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// addressEnv are the variables through which a Cassandra container (ours
// or the official image) is told the address it binds.
var addressEnv = []string{"CASSANDRA_LISTEN_ADDRESS=", "CASSANDRA_BROADCAST_ADDRESS=", "CASSANDRA_RPC_ADDRESS="}

// busyAddrs returns the loopback addresses that existing containers, of
// any state, were told to bind. A node of another test run that is still
// starting has not bound its ports yet, so a port check alone would hand
// its address out a second time.
func busyAddrs(ctx context.Context, docker client.APIClient) (map[string]bool, error) {
	list, err := docker.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("testcluster: list containers: %w", err)
	}
	busy := map[string]bool{}
	for _, c := range list.Items {
		info, err := docker.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if err != nil {
			continue // removed meanwhile
		}
		if info.Container.Config == nil {
			continue
		}
		for _, kv := range info.Container.Config.Env {
			for _, prefix := range addressEnv {
				if v, ok := strings.CutPrefix(kv, prefix); ok {
					busy[v] = true
				}
			}
		}
	}
	return busy, nil
}
