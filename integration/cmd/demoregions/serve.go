package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// demoLabel marks every container the demo starts, so a later run finds
// what a killed one left behind.
const demoLabel = "dev.stickybucket.demo=regions"

// Where the files are inside a serve container.
const (
	configDir  = "/etc/stickybucket"
	configFile = configDir + "/stickybucket.yaml"
)

// region is one serve container and its files.
type region struct {
	name      string   // what the output calls it: "region 1"
	dc        string   // its Cassandra datacenter
	hosts     []string // that datacenter's nodes
	addr      string   // the loopback address it listens on
	dir       string   // on the host, mounted read-only at configDir
	container string
}

func (r *region) api() string   { return "http://" + net.JoinHostPort(r.addr, "8080") }
func (r *region) admin() string { return "http://" + net.JoinHostPort(r.addr, "8088") }

// config is the region's stickybucket.yaml: its own datacenter's nodes,
// LOCAL_QUORUM there only (the default consistency with local_dc), the
// keyspace both regions share, and a short cache TTL so the demo's
// decisions after the node is killed read Cassandra again.
func (r *region) config() string {
	return fmt.Sprintf(`environment: demo
cassandra:
  hosts: [%s]
environments:
  demo:
    retention: 30d
    keyspace: demo
    replication: {class: NetworkTopologyStrategy, datacenters: {dc1: 3, dc2: 1}}
    local_dc: %s
store:
  kind: cassandra
  cache: {ttl: 2s}
server:
  listen: %s
  admin_listen: %s
datafiles:
  - {sdk_key: demo, file: %s/datafile.json}
log: {format: json}
`, strings.Join(r.hosts, ", "), r.dc, net.JoinHostPort(r.addr, "8080"), net.JoinHostPort(r.addr, "8088"), configDir)
}

// writeFiles writes the configuration and the datafile, readable by the
// image's unprivileged user.
func (r *region) writeFiles(datafile string) error {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	if err := os.Chmod(r.dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "stickybucket.yaml"), []byte(r.config()), 0o644); err != nil {
		return fmt.Errorf("%s: writing its configuration: %w", r.name, err)
	}
	return r.replaceDatafile(datafile)
}

// replaceDatafile puts src in place as the region's datafile, by rename,
// as the README asks (the service watches the directory).
func (r *region) replaceDatafile(src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("%s: reading the datafile: %w", r.name, err)
	}
	tmp := filepath.Join(r.dir, ".datafile.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("%s: writing the datafile: %w", r.name, err)
	}
	if err := os.Rename(tmp, filepath.Join(r.dir, "datafile.json")); err != nil {
		return fmt.Errorf("%s: replacing the datafile: %w", r.name, err)
	}
	return nil
}

// runArgs are the docker run arguments of a serve container (or of a
// one-shot command in the same setting): host network, read-only root
// file system, no capabilities, the files mounted read-only.
func (r *region) runArgs(image, name string, detach bool, cmd ...string) []string {
	args := []string{"run", "--name", name, "--label", demoLabel, "--network", "host", "--read-only",
		"--cap-drop", "ALL", "--security-opt", "no-new-privileges", "-v", r.dir + ":" + configDir + ":ro"}
	if detach {
		args = append(args, "-d")
	}
	return append(append(args, image), cmd...)
}

// docker runs the docker CLI and returns its trimmed output; an error
// carries the output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return s, fmt.Errorf("docker %s: %w: %s", args[0], err, s)
	}
	return s, nil
}

// containers are the serve and one-shot containers the demo started.
type containers struct{ names []string }

func (cs *containers) add(name string) { cs.names = append(cs.names, name) }

// drop forgets a container already removed.
func (cs *containers) drop(name string) {
	cs.names = slices.DeleteFunc(cs.names, func(n string) bool { return n == name })
}

// remove removes them all.
func (cs *containers) remove(ctx context.Context) error {
	if len(cs.names) == 0 {
		return nil
	}
	_, err := docker(ctx, append([]string{"rm", "-f"}, cs.names...)...)
	if err != nil && strings.Contains(err.Error(), "No such container") {
		err = nil
	}
	return err
}

// removeLeftovers removes the containers a killed run left behind.
func removeLeftovers(ctx context.Context) (int, error) {
	out, err := docker(ctx, "ps", "-aq", "--filter", "label="+demoLabel)
	if err != nil || out == "" {
		return 0, err
	}
	ids := strings.Fields(out)
	_, err = docker(ctx, append([]string{"rm", "-f"}, ids...)...)
	return len(ids), err
}

// startServe starts the region's serve container (the image's default
// command: serve --config).
func (r *region) startServe(ctx context.Context, image string, cs *containers) error {
	cs.add(r.container)
	if _, err := docker(ctx, r.runArgs(image, r.container, true)...); err != nil {
		return fmt.Errorf("%s: starting serve: %w", r.name, err)
	}
	return nil
}

// runOnce runs cmd in the region's setting and waits for it to finish
// (stickybucket migrate), bounded by ctx.
func (r *region) runOnce(ctx context.Context, image string, cs *containers, name string, cmd ...string) (string, error) {
	cs.add(name)
	out, err := docker(ctx, r.runArgs(image, name, false, cmd...)...)
	if err != nil {
		return out, fmt.Errorf("%s: %s: %w", r.name, strings.Join(cmd, " "), err)
	}
	if _, err := docker(ctx, "rm", name); err != nil {
		return out, err
	}
	cs.drop(name)
	return out, nil
}

// waitReady waits until the region's /ready answers 200, at most limit,
// failing at once with the container's last log lines if it exits.
func (r *region) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		err := ready(ctx, r.admin())
		if err == nil {
			return nil
		}
		state, ierr := docker(ctx, "inspect", "--format", "{{.State.Status}}", r.container)
		if ierr == nil && state != "running" {
			logs, _ := docker(context.WithoutCancel(ctx), "logs", "--tail", "15", r.container)
			return fmt.Errorf("%s: serve is %s:\n%s", r.name, state, logs)
		}
		select {
		case <-ctx.Done():
			logs, _ := docker(context.WithoutCancel(ctx), "logs", "--tail", "15", r.container)
			return fmt.Errorf("%s: not ready within %s (%v):\n%s", r.name, limit, err, logs)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// freeAddrs returns n loopback addresses from 127.0.0.31 up whose ports
// 8080 and 8088 are free. (The Cassandra harness picks its nodes'
// addresses from 127.0.0.254 down.)
func freeAddrs(n int) ([]string, error) {
	var got []string
	for i := 31; i < 128 && len(got) < n; i++ {
		addr := "127.0.0." + strconv.Itoa(i)
		if portFree(addr, 8080) && portFree(addr, 8088) {
			got = append(got, addr)
		}
	}
	if len(got) < n {
		return nil, errors.New("no loopback address in 127.0.0.31-127 with ports 8080 and 8088 free")
	}
	return got, nil
}

func portFree(addr string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
