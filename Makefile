# stickybucket. `make` alone lists the targets and what each installs or
# starts, and does nothing else; `make run` shows sticky decisions on the
# in-memory store; `make test` runs every test, provisioning Docker and a
# Cassandra 5.0 image first when they are missing.
#
# Each target's line ends with "## what it does; what it installs or
# starts", which `make help` prints.

GO            ?= go
BIN           := bin/stickybucket
GOTESTFLAGS   ?= -count=1 -timeout 30m
# Unit tests run under the race detector, which needs cgo and a C compiler;
# without one they run without it and say so.
RACE          := $(if $(and $(shell command -v gcc),$(filter 1,$(shell $(GO) env CGO_ENABLED))),-race,)
EXAMPLES      := examples

# testcontainers' Ryuk reaper image cannot be pulled everywhere; the
# integration tests remove their own containers.
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: help all build run serve loadbench loadbench-cassandra test test-clients test-acceptance unit integration bench bench-cassandra cluster-up cluster-down docker cassandra-image image demo-regions vet clean

.DEFAULT_GOAL := help

help: ## list the targets (the default: `make` alone installs and starts nothing)
	@echo "make TARGET, where TARGET is one of:"
	@awk 'BEGIN { FS = ":[^#]*## " } /^[a-z][a-z-]*:[^#]*## / { printf "  %-20s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))

all: vet test ## vet, then test: what CI runs (see test for what it installs and starts)

# The version and commit are linked in as the service image's build does
# (docker/service/build.sh), so `bin/stickybucket version` says which
# build it is even where GOFLAGS=-buildvcs=false leaves the toolchain's
# record out. VERSION and COMMIT override git's describe and HEAD.
BUILDINFO     := github.com/stickybucket/stickybucket/internal/buildinfo
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT        ?= $(shell git rev-parse HEAD 2>/dev/null)

build: ## bin/stickybucket, with its version and commit; nothing installed
	$(GO) build -ldflags "-X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).commit=$(COMMIT)" -o $(BIN) ./cmd/stickybucket

vet: ## go vet and gofmt; nothing installed
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The main job: decide the sample requests with datafile v1, then with the
# changed datafile v2 and the same profiles, and show who kept their
# variation; then the same change without profiles, for contrast.
run: build ## the main job: sticky decisions on the in-memory store before and after a datafile change; nothing installed or started
	@d=$$(mktemp -d) && \
	$(BIN) decide --datafile $(EXAMPLES)/datafile-v1.json --requests $(EXAMPLES)/requests.jsonl --profiles $$d/profiles.json > $$d/before.jsonl && \
	$(BIN) decide --datafile $(EXAMPLES)/datafile-v2.json --requests $(EXAMPLES)/requests.jsonl --profiles $$d/profiles.json > $$d/after.jsonl && \
	$(BIN) decide --datafile $(EXAMPLES)/datafile-v2.json --requests $(EXAMPLES)/requests.jsonl --profiles $$d/no-profiles.json > $$d/unsticky.jsonl && \
	echo "== datafile v1 -> v2, sticky (in-memory profiles saved to $$d/profiles.json)" && \
	$(BIN) compare $$d/before.jsonl $$d/after.jsonl && \
	echo && echo "== the same change without profiles" && \
	$(BIN) compare $$d/before.jsonl $$d/unsticky.jsonl | tail -n 1

# The HTTP service on the in-memory store with the sample datafile, on
# loopback (API 127.0.0.1:8080, admin 127.0.0.1:8088). Ctrl-C stops it.
serve: build ## serve on the in-memory store with the sample datafile, 127.0.0.1:8080 (admin :8088), in the foreground until Ctrl-C
	$(BIN) serve --datafile sample=$(EXAMPLES)/datafile-v1.json

# Load benchmark over loopback: stickybucket serve (in memory) and, when
# AGENT_BIN names an Optimizely Agent binary, Agent side by side in one run.
loadbench: build ## load benchmark: starts serve (and Agent, with AGENT_BIN) on loopback while it runs
	STICKYBUCKET_BIN=$(BIN) bench/load.sh

# The same with stickybucket also on Cassandra (one node, with and without
# the cache), side by side with the in-memory store (and Agent).
loadbench-cassandra: build ## the same on Cassandra too: Docker as for test, and a Cassandra container while it runs
	STICKYBUCKET_BIN=$(BIN) bench/load-cassandra.sh

# Unit tests only: no Docker, no Cassandra.
unit: ## unit tests with -race; no Docker, nothing installed or started
	@$(if $(RACE),,echo "no C compiler or cgo: unit tests run without -race";)
	$(GO) test $(GOTESTFLAGS) $(RACE) $$($(GO) list ./... | grep -v /integration)

# The SDK clients' tests (clients/*/test.sh): each installs what it needs
# (a Python venv, npm ci, Maven artifacts) and runs the official SDK with
# its client against the stickybucket binary built here.
CLIENTS := $(wildcard clients/*/test.sh)
test-clients: build ## the SDK clients' tests: a Python venv, npm packages and Maven artifacts under clients/; serve while they run
	@set -e; for t in $(CLIENTS); do \
		echo "== $$t"; STICKYBUCKET_BIN=$(CURDIR)/$(BIN) bash $$t; \
	done

# Optimizely Agent's own acceptance suite (tests/acceptance in its source,
# unchanged) against Agent, to measure what it passes offline, then against
# serve (acceptance/test.sh; the expectations in acceptance/expectations.py).
test-acceptance: build ## Agent's acceptance suite on Agent and on serve: a Python venv under acceptance/, Agent's binary built from its source if not cached; Agent and serve on loopback while it runs
	STICKYBUCKET_BIN=$(CURDIR)/$(BIN) bash acceptance/test.sh

# Every test: unit tests, the clients' tests, Agent's acceptance suite, then the integration packages. With
# CASSANDRA_HOSTS set, the integration tests use that cluster and nothing is
# provisioned (integration/multidc then needs datacenters dc1 with three
# nodes and dc2 with one, or skips).
test: build ## every test: installs Docker (Debian's docker.io) and starts dockerd if missing, left running; pulls or builds the Cassandra image; Cassandra containers, removed at the end; the clients' packages as test-clients; Agent's acceptance suite as test-acceptance
	@if [ -z "$$CASSANDRA_HOSTS" ]; then \
		image=$$(./docker/cassandra/image.sh) || exit 1; \
		echo "integration tests use image $$image"; \
		export STICKYBUCKET_CASSANDRA_IMAGE=$$image; \
	fi; \
	$(if $(RACE),,echo "no C compiler or cgo: unit tests run without -race";) \
	$(GO) test $(GOTESTFLAGS) $(RACE) $$($(GO) list ./... | grep -v /integration) && \
	for t in $(CLIENTS); do echo "== $$t"; STICKYBUCKET_BIN=$(CURDIR)/$(BIN) bash $$t || exit 1; done && \
	echo "== acceptance/test.sh" && STICKYBUCKET_BIN=$(CURDIR)/$(BIN) bash acceptance/test.sh && \
	$(GO) test $(GOTESTFLAGS) $(INTEGRATIONFLAGS) ./integration/...

# Integration packages run one after another (-p 1): the one-node cluster of
# ./integration and the four-node cluster of ./integration/multidc must not
# share two cores and the loopback addresses at the same time. Verbose, so
# the logs show release_version, start-up timings and the fault figures.
INTEGRATIONFLAGS := -p 1 -v

integration: ## the integration tests alone: Docker, the image and containers as for test
	@if [ -z "$$CASSANDRA_HOSTS" ]; then \
		image=$$(./docker/cassandra/image.sh) || exit 1; \
		export STICKYBUCKET_CASSANDRA_IMAGE=$$image; \
	fi; \
	$(GO) test $(GOTESTFLAGS) $(INTEGRATIONFLAGS) ./integration/...

# Benchmarks that need no Docker: decisions (against the official Go SDK),
# layers, parsing, the service's handlers.
bench: ## Go benchmarks that need no Docker; nothing installed or started
	$(GO) test -run '^$$' -bench . -benchmem -count 5 $$($(GO) list ./... | grep -v /integration) | tee bench.out

# Benchmarks against the real Cassandra node of ./integration, as the
# README's figures were taken (about 20 minutes here): the store against raw
# gocql and first-writer-wins against the plain upsert in interleaved
# rounds, decisions with the node paused, bytes on disk and node throughput,
# import and export; then first writer wins on the four-node cluster.
# Results go to bench/results/.
BENCHDIR := bench/results
bench-cassandra: ## Go benchmarks against Cassandra (about 20 min): Docker as for test, Cassandra containers, removed at the end
	@image=$$(./docker/cassandra/image.sh) || exit 1; \
	export STICKYBUCKET_CASSANDRA_IMAGE=$$image; \
	stamp=$$(date -u +%Y%m%d-%H%M%S); \
	$(GO) test -run '^$$' -bench 'BenchmarkStoreVsRaw|BenchmarkSaveFirst' -benchmem -benchtime 2s -timeout 1h ./integration/ -args -rounds 6 | tee $(BENCHDIR)/store-$$stamp.txt && \
	$(GO) test -run '^$$' -bench BenchmarkDecidePaused -benchtime 12s -count 3 -timeout 1h ./integration/ | tee $(BENCHDIR)/paused-$$stamp.txt && \
	$(GO) test -run '^$$' -bench BenchmarkCapacity -benchtime 1x -timeout 1h ./integration/ | tee $(BENCHDIR)/capacity-$$stamp.txt && \
	$(GO) test -run '^$$' -bench 'BenchmarkImport|BenchmarkExport' -benchtime 3x -count 5 -timeout 1h ./integration/ | tee $(BENCHDIR)/bulk-$$stamp.txt && \
	$(GO) test -run '^$$' -bench BenchmarkSaveFirstAcrossDatacenters -benchmem -benchtime 2s -timeout 1h ./integration/multidc/ -args -rounds 6 | tee $(BENCHDIR)/lwt-multidc-$$stamp.txt

# The four-node, two-datacenter cluster of integration/multidc, for
# manual use: cluster-up starts it (about a minute) and prints each node's
# address and container and a serve configuration per datacenter;
# cluster-down removes it (and any container a killed test left behind).
cluster-up: ## Docker as for test, then four Cassandra containers in two datacenters, left running until cluster-down
	@image=$$(./docker/cassandra/image.sh) || exit 1; \
	STICKYBUCKET_CASSANDRA_IMAGE=$$image $(GO) run ./integration/cmd/cluster up

cluster-down: ## removes cluster-up's containers (and any a killed test left)
	$(GO) run ./integration/cmd/cluster down

docker: ## installs Docker (Debian's docker.io) and starts dockerd if missing, left running
	./docker/engine.sh

cassandra-image: ## Docker as for test, then builds the local Cassandra image (Debian packages for the build if missing)
	./docker/cassandra/build.sh

# The service image, built here with nothing pulled: the static binary on
# scratch (docker/service/). Named stickybucket/stickybucket:<hash of its
# inputs>, also tagged :latest; then run once read-only on loopback and
# checked (healthy, non-root, decides, stops cleanly).
image: ## Docker as for test, then builds the service image (kept) and runs it once in a container (removed)
	@image=$$(./docker/service/build.sh) && ./docker/service/smoke.sh "$$image"

# Two regions sharing assignments: the four-node, two-datacenter cluster
# and one serve container per datacenter from the service image (host
# network, loopback); a user decided in region 1 keeps the variation in
# region 2 after its datafile changes, and after a dc1 node is killed.
# Takes 2-4 minutes; removes every container it started.
demo-regions: ## Docker as for test, both images, four Cassandra and two serve containers, removed at the end (2-4 min)
	@cimage=$$(./docker/cassandra/image.sh) || exit 1; \
	simage=$$(./docker/service/build.sh) || exit 1; \
	$(GO) build -o bin/demoregions ./integration/cmd/demoregions && \
	STICKYBUCKET_CASSANDRA_IMAGE=$$cimage bin/demoregions --image "$$simage"

clean: ## removes bin/ and bench.out
	rm -rf bin bench.out
