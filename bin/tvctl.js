#!/usr/bin/env node
// Entry point. Every command goes through oclif; see src/cli/main.ts for the start-up fast path.
import('../dist/main.mjs').then((m) => m.main(process.argv.slice(2)));
