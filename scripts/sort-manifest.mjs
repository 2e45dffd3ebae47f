// `oclif manifest` lists commands in the order its file walk happens to find them, so every build reorders
// oclif.manifest.json. Sorting the commands by id keeps the checked-in file stable between builds.
import { readFileSync, writeFileSync } from 'node:fs';

const file = 'oclif.manifest.json';
const m = JSON.parse(readFileSync(file, 'utf8'));
m.commands = Object.fromEntries(Object.entries(m.commands).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(file, `${JSON.stringify(m, null, 2)}\n`);
