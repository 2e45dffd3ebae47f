// Builds the native parts from source at `npm ci`: the KVM addon (node-gyp, if native/binding.gyp exists)
// and the static C helpers (make -C native).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const run = (file, args) => execFileSync(file, args, { stdio: 'inherit' });

if (existsSync('binding.gyp')) {
  // Use the headers installed with Node itself (no header download: only the npm registry is reachable).
  const nodedir = join(dirname(process.execPath), '..');
  const gypArgs = existsSync(join(nodedir, 'include', 'node', 'node_api.h')) ? [`--nodedir=${nodedir}`] : [];
  // configure + build rather than rebuild: rebuild deletes all of build/, which also holds other artefacts.
  const gyp = process.env.npm_config_node_gyp;
  for (const step of ['configure', 'build']) {
    if (gyp) run(process.execPath, [gyp, step, ...gypArgs]);
    else run('npx', ['--yes', 'node-gyp', step, ...gypArgs]);
  }
}
if (existsSync('native/Makefile')) run('make', ['-s', '-C', 'native']);
