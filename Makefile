# Two commands do everything: `make up` (local pipeline) and `make test` (every suite).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# The project's pinned Node LTS (npm package `node`) comes first on PATH.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/.local/bin:$(PATH)
NODE_STAMP := node_modules/.install-stamp

.PHONY: help deps up down status test test-unit test-integration test-e2e test-operator lint format typecheck \
	      test-pods test-stack-up test-stack-down migrate seed cluster cluster-build cluster-status cluster-down operator images \
	      cluster-node cluster-node-down deploy undeploy \
	      verify rebuild repair token bench-api bench-redis-clients bench-redis-cluster bench-kafka-client bench-producer bench-e2e \
	      bench-operator bench-pipeline

help:
	@echo "make up        install what is missing, start MariaDB, Redis, Kafka and the services"
	@echo "               (WITH_PROMETHEUS=1 make up: also a Prometheus on 127.0.0.1:19090)"
	@echo "               (SECURE=1 make up: MariaDB TLS-only, Kafka SASL_SSL with ACLs; README \"Connecting to managed services\")"
	@echo "make down      stop everything 'make up' started"
	@echo "make status    what is running"
	@echo "make test      install what is missing, start the test stack, run every suite"
	@echo "make lint | typecheck | format"
	@echo "make verify | rebuild | token USER_ID=alice    (against the dev stack)"
	@echo "make repair USER_ID=alice     rebuild one user's cache from MySQL"
	@echo "make cluster | cluster-down | operator         (local Kubernetes control plane, kwok nodes)"
	@echo "make cluster-node | cluster-node-down          (a cluster of its own with a real node: containerd + kubelet)"
	@echo "make deploy | undeploy     the pipeline as real pods on that node (helm install + PaymentPipeline)"
	@echo "make images    the runtime and operator images as OCI archives, without Docker (.local/images)"
	@echo "make bench-api | bench-kafka-client | bench-producer | bench-e2e | bench-pipeline | bench-redis-cluster | bench-operator"

# npm ci only when the lock file changed since the last install.
$(NODE_STAMP): package.json package-lock.json runtime/package.json operator/package.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

deps: $(NODE_STAMP)
	STACK_NAME=dev dev/stack.sh install

up: $(NODE_STAMP)
	STACK_NAME=dev WITH_SERVICES=1 dev/stack.sh up
	@STACK_NAME=dev dev/stack.sh status
	@echo "Connection settings: .local/stack.env   Logs: .local/dev/logs/   Stop: make down"

down:
	STACK_NAME=dev dev/stack.sh down

status:
	@STACK_NAME=dev dev/stack.sh status

migrate: $(NODE_STAMP)
	set -a; . .local/stack.env; set +a; node runtime/core/db/cli.ts migrate

seed: $(NODE_STAMP)
	set -a; . .local/stack.env; set +a; node runtime/core/db/cli.ts seed

# Consistency checker: prints every difference between Redis and MySQL, exits non-zero on any.
verify: $(NODE_STAMP)
	set -a; . .local/stack.env; set +a; node runtime/consumer/verify-main.ts

# Repopulates Redis from MySQL (new or flushed Redis); safe while the consumer runs.
rebuild: $(NODE_STAMP)
	set -a; . .local/stack.env; set +a; node runtime/consumer/rebuild-main.ts

# Rebuilds one user's cache from MySQL (version-guarded: safe while the consumer runs).
repair: $(NODE_STAMP)
	@test -n "$(USER_ID)" || { echo "usage: make repair USER_ID=<user id>" >&2; exit 2; }
	set -a; . .local/stack.env; set +a; USER_ID='$(USER_ID)' node runtime/consumer/repair-main.ts

lint: $(NODE_STAMP)
	biome check .

format: $(NODE_STAMP)
	biome check --write .

typecheck: $(NODE_STAMP)
	tsc -p tsconfig.json --noEmit

test-unit: $(NODE_STAMP)
	vitest run --project unit

# The test stack has its own ports and data (.local/test); a running dev stack is never touched.
test-stack-up: $(NODE_STAMP)
	STACK_NAME=test dev/stack.sh up

test-stack-down:
	STACK_NAME=test dev/stack.sh down

test-integration: test-stack-up
	vitest run --project integration

test-e2e: test-stack-up
	vitest run --project e2e --passWithNoTests

test: $(NODE_STAMP)
	dev/run-tests.sh

# Kubernetes control plane for the operator (kube-apiserver, etcd, controller-manager, scheduler, kwok).
cluster:
	dev/cluster.sh up

# Both clusters: the kwok one and the one with the real node.
cluster-down:
	dev/cluster.sh down
	K8S_NODE=real dev/cluster.sh down

# The control plane with a real node (containerd 2.x + runc + kubelet) instead of kwok; its own
# ports and kubeconfig (.local/kubeconfig-real), the project's images imported (dev/cluster/README.md).
cluster-node: $(NODE_STAMP)
	dev/images.sh build
	K8S_NODE=real dev/cluster.sh up

cluster-node-down:
	K8S_NODE=real dev/cluster.sh down

# The pipeline on the real node against the dev stack: images → helm install → the PaymentPipeline,
# Ready; writes .local/deploy.env (API_URL, AUTH_JWT_SECRET, KUBECONFIG). Needs `make up` and
# `make cluster-node`.
deploy: $(NODE_STAMP)
	dev/deploy.sh up

undeploy:
	dev/deploy.sh down

cluster-build:
	dev/cluster.sh build

cluster-status:
	dev/cluster.sh status

# The Dockerfile's two targets as OCI images without Docker or a registry (dev/cluster/README.md
# "Images without Docker"); rebuilt only when an input changed.
images: $(NODE_STAMP)
	dev/images.sh build

# The operator from source against the local control plane (CRD applied first; Ctrl-C stops it).
operator: $(NODE_STAMP)
	dev/cluster.sh up
	kubectl --kubeconfig .local/kubeconfig apply --server-side --field-manager=payment-pipeline-operator -f crds/generated/
	KUBECONFIG=$(CURDIR)/.local/kubeconfig LEADER_ELECTION_NAMESPACE=default OPS_HOST=127.0.0.1 node operator/main.ts

test-operator: $(NODE_STAMP)
	dev/cluster.sh up
	vitest run --project operator

# The chart and a pipeline as real pods on the real node (its own cluster), against the test stack.
test-pods: test-stack-up
	dev/images.sh build
	K8S_NODE=real dev/cluster.sh up
	K8S_NODE=real dev/cluster.sh import-images
	vitest run --project pods

# A one-hour development token: make token USER_ID=alice [SCOPE="purchases admin"]
token: $(NODE_STAMP)
	@set -a; . .local/stack.env; set +a; node dev/token.ts "$(USER_ID)" $(SCOPE)

# Benchmarks run against the test stack (its own ports and data); each prints ratios against a
# baseline measured in the same run. See README "Benchmarks".
BENCH_ENV := set -a; . .local/test-stack.env; set +a

bench-api: test-stack-up
	$(BENCH_ENV); node bench/api/package-route.ts

bench-redis-clients: test-stack-up
	$(BENCH_ENV); node bench/api/redis-clients.ts

# A private Redis Cluster (3 masters, 3 replicas) against the test stack's standalone Redis, one run.
bench-redis-cluster: test-stack-up
	$(BENCH_ENV); node bench/redis-cluster/bench.ts

bench-kafka-client: test-stack-up
	$(BENCH_ENV); node bench/kafka-client/bench.ts

# On MariaDB, then with the database on the MySQL 9.7 test server (started like make test does).
bench-producer: test-stack-up
	$(BENCH_ENV); node bench/producer/bench.ts
	DB_FLAVOR=mysql STACK_NAME=outage STACK_COMPONENTS=mysql STACK_DIR="$$PWD/.local/test-mysql" \
	  STACK_ENV_FILE="$$PWD/.local/test-mysql/stack.env" MYSQL_PORT="$${TEST_MYSQL_PORT:-25106}" dev/stack.sh up
	set -a; . .local/test-stack.env; . .local/test-mysql/stack.env; set +a; node bench/producer/bench.ts

bench-e2e: test-stack-up
	$(BENCH_ENV); node bench/e2e/freshness.ts

# Reconcile latency on the kwok control plane (started if needed), the operator as its own process.
bench-operator: $(NODE_STAMP)
	dev/cluster.sh up
	node bench/operator/reconcile.ts

# Offered rates 1k..10k changes/s through the real producer and consumer, with the broker as near as it
# is and +20 ms per round trip (a network namespace of its own; needs root). BENCH_ARGS: see the script.
bench-pipeline: test-stack-up
	$(BENCH_ENV); node bench/pipeline/bench.ts $(BENCH_ARGS)
