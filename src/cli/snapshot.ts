/**
 * Startup snapshot entry, bundled to dist/fast.cjs and snapshotted into dist/tvctl.blob by scripts/bundle.mjs.
 * Run as: node --snapshot-blob dist/tvctl.blob PKGROOT COMMAND ARGS... (bin/tvctl does this).
 */
import { startupSnapshot } from 'node:v8';
import { fastMain } from './fast.js';

declare const TVCTL_VERSION: string;

startupSnapshot.setDeserializeMainFunction(() => {
  const [pkgRoot, ...argv] = process.argv.slice(1);
  fastMain(pkgRoot ?? '.', argv, TVCTL_VERSION).catch((err: unknown) => {
    process.stderr.write(`tvctl: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 125;
  });
});
