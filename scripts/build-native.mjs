// Builds the native parts from source at `npm ci`: the KVM addon (node-gyp, if native/binding.gyp exists)
// and the static C helpers (make -C native).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const run = (file, args) => execFileSync(file, args, { stdio: 'inherit' });

if (existsSync('binding.gyp')) {
  const gyp = process.env.npm_config_node_gyp;
  if (gyp) run(process.execPath, [gyp, 'rebuild']);
  else run('npx', ['--yes', 'node-gyp', 'rebuild']);
}
if (existsSync('native/Makefile')) run('make', ['-s', '-C', 'native']);
