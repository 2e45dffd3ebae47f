// Bundles the CLI entry points with esbuild. @oclif/core stays external so that the command classes
// loaded from dist/lib/commands and the entry share one copy of it.
import { build } from 'esbuild';

await build({
  entryPoints: { main: 'src/cli/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@oclif/core'],
  logLevel: 'warning',
});
