// Bundles the CLI with esbuild:
// - dist/main.mjs: the oclif entry (bin/tvctl.js). @oclif/core stays external so that the command classes
//   loaded from dist/lib/commands and the entry share one copy of it.
// - dist/fast.cjs + dist/tvctl.blob: the hot container verbs with their whole module graph in a Node
//   startup snapshot (see src/cli/fast.ts); bin/tvctl uses it when present.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';

const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

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

// Modules the fast-path verbs never call (image unpacking, oclif's plugin/help machinery) are replaced by
// stubs in the snapshot, so that its heap, which every start has to map, stays small. A stub throws if it is
// ever called, naming the module; the integration tests run every fast-path verb.
const FAST_PATH_STUBS = [
  'tar',
  'semver',
  'minimatch',
  'picomatch',
  'cli-spinners',
  'ejs',
  'fdir',
  'tinyglobby',
  'lilconfig',
];
const stubPlugin = {
  name: 'fast-path-stubs',
  setup(b) {
    const filter = new RegExp(
      `^(${FAST_PATH_STUBS.map((m) => m.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(/.*)?$`,
    );
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'stub' }));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(args.path)} + ' is not part of the tvctl fast path'); };
module.exports = new Proxy(fail, { get: (_t, k) => (k === '__esModule' ? false : k === 'default' ? module.exports : fail) });`,
      loader: 'js',
    }));
  },
};

await build({
  entryPoints: ['src/cli/snapshot.ts'],
  plugins: [stubPlugin],
  outfile: 'dist/fast.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  define: { TVCTL_VERSION: JSON.stringify(version) },
  // oclif only requires typescript for running .ts commands in development; never on this path.
  external: ['typescript'],
  // import.meta.url is only used where the snapshot sets the package root explicitly.
  logOverride: { 'empty-import-meta': 'silent' },
  logLevel: 'warning',
});

rmSync('dist/tvctl.blob', { force: true });
// Node warns that some built-ins are "not yet fully verified" in snapshots; the integration tests run every
// fast-path verb through the snapshot, which is the verification that matters here.
execFileSync(process.execPath, ['--snapshot-blob', 'dist/tvctl.blob', '--build-snapshot', 'dist/fast.cjs'], {
  stdio: 'inherit',
  env: { ...process.env, NODE_NO_WARNINGS: '1' },
});
