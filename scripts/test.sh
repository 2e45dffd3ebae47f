#!/usr/bin/env bash
# The whole test run, as CI does it (as root): set-up, type check, unit tests, integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s typecheck
npx eslint .
npx prettier --check src test bench scripts examples
# A test whose tool, root or native part is missing fails here instead of skipping (test/helpers/prereq.ts):
# set-up has just provided them. Only what needs hardware-assisted KVM still skips, listed at the end.
export TVCTL_REQUIRE_TOOLS=1
npx vitest run --project unit
npx vitest run --project integration
