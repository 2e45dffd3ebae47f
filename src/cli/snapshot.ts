/**
 * Startup snapshot entry, bundled to dist/fast.cjs and snapshotted into dist/tvctl.blob by scripts/bundle.mjs.
 * Run as: node --snapshot-blob dist/tvctl.blob PKGROOT COMMAND ARGS... (bin/tvctl does this).
 */
import { startupSnapshot } from 'node:v8';
import { fastMain, minimalConfig } from './fast.js';
import { warmUp } from './warm.js';

declare const TVCTL_VERSION: string;

startupSnapshot.setDeserializeMainFunction(() => {
  const [pkgRoot, ...argv] = process.argv.slice(1);
  fastMain(pkgRoot ?? '.', argv, TVCTL_VERSION).catch((err: unknown) => {
    process.stderr.write(`tvctl: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 125;
  });
});

// While the snapshot is built: compile the start path's functions, so the snapshot carries their bytecode.
if (startupSnapshot.isBuildingSnapshot()) {
  warmUp(minimalConfig(TVCTL_VERSION) as never).catch((err: unknown) => {
    process.stderr.write(`tvctl snapshot warm-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
