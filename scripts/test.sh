#!/usr/bin/env bash
# The whole test run, as CI does it (as root): set-up, type check, unit tests, integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npm run -s typecheck
npx eslint .
npx prettier --check src test bench scripts examples
npx vitest run --project unit
npx vitest run --project integration
