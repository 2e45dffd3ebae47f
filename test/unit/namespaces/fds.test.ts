import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as fds from '../../../src/namespaces/fds.js';

/** `#define TVINIT_NAME N` lines of native/tvinit/fds.h, as { NAME: N }. */
function headerFds(): Record<string, number> {
  const text = readFileSync(join(import.meta.dirname, '../../../native/tvinit/fds.h'), 'utf8');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^#define TVINIT_(\w+_FD)\s+(\d+)\s*$/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('fd numbers shared with tvinit', () => {
  it('native/tvinit/fds.h and src/namespaces/fds.ts define the same names with the same numbers', () => {
    const ts = Object.fromEntries(Object.entries(fds).filter(([k]) => k.endsWith('_FD')));
    const c = headerFds();
    expect(Object.keys(c).length).toBeGreaterThan(0);
    expect(c).toEqual(ts);
  });
  it('keeps the numbers tvinit was built with (3 sync, 4 console, 5 sealed tvinit, 6 exec conf)', () => {
    expect([fds.SHIM_SYNC_FD, fds.SYNC_FD, fds.CONSOLE_FD, fds.SEAL_FD, fds.EXEC_CONF_FD]).toEqual([3, 3, 4, 5, 6]);
  });
});
