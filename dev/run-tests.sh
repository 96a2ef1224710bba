#!/usr/bin/env bash
# `make test`: static checks, unit tests, then the test stack and every suite against real services.
# Stops the test stack afterwards only if this run started it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PWD/.local/bin:$PATH"

step() { printf '\n==> %s\n' "$*"; }

step "lint";       biome check .
step "typecheck";  tsc -p tsconfig.json --noEmit
step "unit tests"; vitest run --project unit --passWithNoTests

started_here=0
if ! STACK_NAME=test dev/stack.sh status | grep -q 'mariadb: running'; then started_here=1; fi
cleanup() { if [ "$started_here" = 1 ] && [ "${KEEP_TEST_STACK:-0}" != 1 ]; then STACK_NAME=test dev/stack.sh down || true; fi; }
trap cleanup EXIT
step "test stack"; STACK_NAME=test dev/stack.sh up

step "integration tests"; vitest run --project integration
step "end-to-end tests";  vitest run --project e2e --passWithNoTests
if [ -x dev/cluster.sh ] && [ -n "$(ls test/operator/*.test.ts 2>/dev/null)" ]; then
  step "operator tests"; dev/cluster.sh up && vitest run --project operator
fi
