package testcluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// RemoveAll removes every container any harness started on this Docker
// engine (running, paused or stopped), whichever process started it: the
// way to stop a cluster left running on purpose (`make cluster-down`) or by
// a test binary that was killed before its Close. It returns how many it
// removed.
func RemoveAll(ctx context.Context) (int, error) {
	docker, err := testcontainers.NewDockerProvider()
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrDockerUnavailable, err)
	}
	defer docker.Close()
	cli := docker.Client()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", labelKey)})
	if err != nil {
		return 0, fmt.Errorf("testcluster: list containers: %w", err)
	}
	var errs []error
	removed := 0
	for _, ct := range list.Items {
		if ct.State == container.StatePaused {
			_, _ = cli.ContainerUnpause(ctx, ct.ID, client.ContainerUnpauseOptions{})
		}
		if _, err := cli.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, fmt.Errorf("testcluster: remove container %s: %w", ct.ID, err))
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}
