import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, TvctlError, exitCodeOf } from '../../src/errors.js';

const SRC = join(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the error-code registry', () => {
  it("gives each code one of Docker's exit codes, usage errors 125 and a missing command 127", () => {
    for (const [code, kind] of Object.entries(ERROR_CODES)) expect([1, 125, 126, 127], code).toContain(kind.exit);
    expect(exitCodeOf('BAD_USAGE')).toBe(125);
    expect(exitCodeOf('NO_SUCH_CONTAINER')).toBe(1);
    expect(exitCodeOf('COMMAND_NOT_FOUND')).toBe(127);
    expect(exitCodeOf('COMMAND_NOT_EXECUTABLE')).toBe(126);
    expect(exitCodeOf('KVM_OPEN')).toBe(125);
    expect(new TvctlError('NOT_RUNNING', 'x').exitCode).toBe(1);
  });

  it('lists only codes some source raises or checks (no dead entries)', () => {
    const text = sources(SRC)
      .filter((p) => !p.endsWith('errors.ts'))
      .map((p) => readFileSync(p, 'utf8'))
      .join('\n')
      // an errno check (isErrno(err, 'EEXIST')) names no tvctl code
      .replace(/isErrno\([^)]*\)/g, '');
    const unused = Object.keys(ERROR_CODES).filter((c) => !text.includes(`'${c}'`));
    expect(unused).toEqual([]);
  });
});
