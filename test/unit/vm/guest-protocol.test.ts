import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  GUEST_CONFIG_VERSION,
  GUEST_INIT_PATH,
  GuestConsoleMonitor,
  MarkerParser,
  decodeGuestConfig,
  encodeGuestConfig,
  markerLine,
  parseMarkerBody,
} from '../../../src/vm/guest-protocol.js';

// The other side of the protocol; the tests below hold this module to what it writes and reads.
const guestInitC = readFileSync(new URL('../../../native/guestinit/guestinit.c', import.meta.url), 'utf8');

describe('MarkerParser', () => {
  it('finds markers split across chunks and among kernel noise, and ignores other nonces', () => {
    const p = new MarkerParser('n1');
    expect(p.push('[ 0.1] noise\r\n@@tvctl:n1:in')).toEqual([]);
    expect(p.push('it 812@@\r\n@@tvctl:zz:exit 9 1@@ more')).toEqual([{ kind: 'init', uptimeMs: 812 }]);
    expect(p.push('\r\n@@tvctl:n1:exit 3 900')).toEqual([]);
    expect(p.push('@@\r\n')).toEqual([{ kind: 'exit', status: 3, uptimeMs: 900 }]);
  });

  it('finds a marker fed one character at a time, and several in one chunk', () => {
    const p = new MarkerParser('abc');
    const text = `junk${markerLine('abc', 'init 5')}more junk${markerLine('abc', 'exit 0 77')}`;
    const found = [...text].flatMap((c) => p.push(c));
    expect(found).toEqual([
      { kind: 'init', uptimeMs: 5 },
      { kind: 'exit', status: 0, uptimeMs: 77 },
    ]);
    expect(new MarkerParser('abc').push(text)).toEqual(found);
  });

  it('reads the exit status as the guest init reports it: the code, or 128+signal', () => {
    for (const status of [0, 1, 127, 137, 255]) {
      expect(new MarkerParser('n').push(markerLine('n', `exit ${status} 1234`))).toEqual([
        { kind: 'exit', status, uptimeMs: 1234 },
      ]);
    }
  });

  it('reports failures with their message', () => {
    const p = new MarkerParser('abc');
    expect(p.push('@@tvctl:abc:fail chdir /x: No such file@@')).toEqual([
      { kind: 'fail', message: 'chdir /x: No such file' },
    ]);
  });

  it('skips garbage: unknown kinds, malformed bodies, broken markers, and long noise between markers', () => {
    const p = new MarkerParser('abc');
    expect(p.push('@@tvctl:abc:boom 1@@ @@tvctl:abc:exit x 1@@ @@tvctl:abc:init\n 5@@')).toEqual([]);
    expect(p.push('@@tvctl:abc:ini' + 'x'.repeat(100_000))).toEqual([]);
    expect(p.push('@@tvctl:abc:' + '\0\xff'.repeat(5000))).toEqual([]);
    expect(p.push(markerLine('abc', 'init 9'))).toEqual([{ kind: 'init', uptimeMs: 9 }]);
  });

  it('rejects malformed bodies and non-alphanumeric nonces', () => {
    expect(parseMarkerBody('exit', 'x 1')).toBeUndefined();
    expect(parseMarkerBody('exit', '3')).toBeUndefined();
    expect(parseMarkerBody('init', 'abc')).toBeUndefined();
    expect(parseMarkerBody('what', '1')).toBeUndefined();
    expect(() => new MarkerParser('a.b')).toThrow();
    expect(() => new MarkerParser('')).toThrow();
  });
});

describe('the protocol as native/guestinit/guestinit.c speaks it', () => {
  it('writes markers in the format markerLine builds', () => {
    expect(guestInitC).toContain('"\\n@@tvctl:%s:%s@@\\n", nonce, body');
    expect(markerLine('n1', 'init 5')).toBe('\n@@tvctl:n1:init 5@@\n');
    for (const body of ['"init %ld"', '"exit %d %ld"', '"fail %s"']) expect(guestInitC).toContain(`marker(${body}`);
  });

  it('reads the configuration records encodeGuestConfig writes', () => {
    expect(guestInitC).toContain(`strcmp(p, "${GUEST_CONFIG_VERSION}")`);
    for (const [key, what] of [
      ['n', 'nonce'],
      ['h', 'hostname'],
      ['w', 'cwd'],
      ['u', 'user'],
    ]) {
      expect(guestInitC).toContain(`case '${key}': ${what} = v; break;`);
    }
    expect(guestInitC).toContain('else if (nenvs < MAX_ITEMS) envs[nenvs++] = v;');
    expect(guestInitC).toContain("case 'a': if (nargs < MAX_ITEMS) args[nargs++] = v;");
    expect(guestInitC).toContain(`initramfs as ${GUEST_INIT_PATH}`);
  });
});

describe('guest configuration', () => {
  it('round-trips records through base64url without spaces or quotes', () => {
    const word = encodeGuestConfig({
      nonce: 'n',
      hostname: 'h',
      cwd: '/w d',
      env: ['A=1 2', 'B="x"'],
      argv: ['sh', '-c', "echo 'hi'"],
      user: '1000:1000',
    });
    expect(word).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeGuestConfig(word)).toEqual([
      'tvctl1',
      'nn',
      'hh',
      'w/w d',
      'u1000:1000',
      'eA=1 2',
      'eB="x"',
      'ash',
      'a-c',
      "aecho 'hi'",
    ]);
  });

  it('refuses NUL bytes', () => {
    expect(() => encodeGuestConfig({ nonce: 'n', hostname: 'h', cwd: '/', env: [], argv: ['a\0b'] })).toThrow(/NUL/);
  });
});

describe('GuestConsoleMonitor (shared by the qemu and kvm engines)', () => {
  it('follows markers split across chunks, passes the console on, records host and guest times', () => {
    const seen: string[] = [];
    const m = new GuestConsoleMonitor(
      'abc',
      { onStdout: () => {}, onStderr: () => {}, onConsole: (b) => void seen.push(b.toString()) },
      1000,
    );
    expect(m.console(Buffer.from('[ 0.1] boot\n@@tvctl:abc:in'), 1100)).toEqual([]);
    expect(m.console(Buffer.from('it 250@@\nnoise @@tvctl:zzz:exit 9 1@@ '), 1300)).toEqual([
      { kind: 'init', uptimeMs: 250 },
    ]);
    expect(m.console(Buffer.from('@@tvctl:abc:exit 3 400@@\n'), 1450)).toEqual([
      { kind: 'exit', status: 3, uptimeMs: 400 },
    ]);
    const r = m.end(1500);
    expect(r).toMatchObject({
      status: 3,
      hostInitMs: 300,
      guestInitMs: 250,
      hostExitMs: 450,
      guestExitMs: 400,
      hostEndMs: 500,
    });
    expect(seen.join('')).toContain('noise');
  });

  it('records a guest-init failure and no status', () => {
    const m = new GuestConsoleMonitor('abc', { onStdout: () => {}, onStderr: () => {} }, 0);
    m.console(Buffer.from('@@tvctl:abc:fail cannot open /dev/ttyS1: No such device@@'), 10);
    const r = m.end(20);
    expect(r.status).toBeUndefined();
    expect(r.failure).toBe('cannot open /dev/ttyS1: No such device');
  });
});
