import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCgroupManager, type CgroupManager } from '../../../src/cgroups/index.js';
import { TvctlError } from '../../../src/errors.js';
import { buildContainerRecord } from '../../../src/runtime/container-conf.js';
import { ensureVolumeSources } from '../../../src/runtime/create.js';
import { newId } from '../../../src/runtime/ids.js';
import { listContainers, parseFilter, toPsEntry } from '../../../src/runtime/list.js';
import { pruneStopped } from '../../../src/runtime/remove.js';
import { Runtime } from '../../../src/runtime/runtime.js';
import { StatsSampler } from '../../../src/runtime/stats.js';
import type { ContainerInfo, ContainerOptions, ContainerRecord } from '../../../src/runtime/types.js';
import { makeFakeTree, type FakeTree } from '../cgroups/fake-cgroupfs.js';

/**
 * Runtime operations that need neither root nor a running container: a temp state root, a fake cgroupfs,
 * records written as create writes them, and the facts a supervisor leaves behind written by hand.
 */
let dir: string;
let tree: FakeTree;
let cgroups: CgroupManager;
let rt: Runtime;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tvctl-unit-rt-'));
  tree = makeFakeTree('v2');
  // The eBPF device filter needs a real cgroup2 (and root): not what these tests are about.
  cgroups = createCgroupManager({
    root: tree.root,
    mode: 'v2',
    fs: tree.fs,
    attachDeviceFilter: async () => undefined,
  });
  rt = new Runtime({ roots: { state: join(dir, 'state'), data: join(dir, 'data') }, cgroups });
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  tree.cleanup();
});

async function saved(name: string, opts: Partial<ContainerOptions> = {}, created?: string): Promise<ContainerRecord> {
  const id = newId();
  const rec = buildContainerRecord({
    id,
    name,
    hostname: id.slice(0, 12),
    created: created ?? new Date().toISOString(),
    opts: { image: 'busybox', network: 'none', ...opts },
    image: { id: 'sha256:' + '0'.repeat(64), config: { cmd: ['sh'], env: [], exposedPorts: [] }, layerDirs: ['/l'] },
  });
  await rt.store.save(rec);
  await rt.store.reserveName(name, id);
  return rec;
}

/** The facts a supervisor leaves when it has gone: its pid (not alive, not tvinit) and the exit file. */
function exited(rec: ContainerRecord, exitFile: string): void {
  const p = rt.store.paths(rec.id);
  writeFileSync(p.fact('shim.pid'), '999999999');
  writeFileSync(p.fact('exit'), exitFile);
}

const exitJson = (code: number): string =>
  JSON.stringify({
    exitCode: code,
    signal: null,
    oomKilled: false,
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T00:00:01Z',
    restartCount: 0,
  });

describe('a corrupt exit file', () => {
  it('makes the container dead with a clear error, not "supervisor was killed" (137)', async () => {
    const rec = await saved('broken');
    exited(rec, '{"exitCode": 0, "signal"');
    const info = await rt.inspect(rec.id);
    expect(info.state.status).toBe('dead');
    expect(info.state.exitCode).not.toBe(137);
    expect(info.state.error).toMatch(/corrupt exit file \(not JSON/);
    expect(info.state.error).not.toMatch(/supervisor was killed/);
  });
  it('is corrupt when empty or not an exit record, too', async () => {
    const empty = await saved('empty');
    exited(empty, '');
    expect((await rt.inspect(empty.id)).state.error).toMatch(/corrupt exit file \(the file is empty\)/);
    const other = await saved('other');
    exited(other, '{"code": 3}');
    expect((await rt.inspect(other.id)).state.error).toMatch(/no numeric exitCode/);
  });
  it('fails wait and readExit with that error', async () => {
    const rec = await saved('broken');
    exited(rec, 'garbage');
    await expect(rt.wait(rec.id)).rejects.toMatchObject({ code: 'CONTAINER_DEAD' });
    await expect(rt.readExit(rec.id)).rejects.toMatchObject({ code: 'CORRUPT_EXIT_FILE' });
  });
  it('leaves a good exit file and a missing one as they were', async () => {
    const good = await saved('good');
    exited(good, exitJson(3));
    expect((await rt.inspect(good.id)).state).toMatchObject({ status: 'exited', exitCode: 3, error: '' });
    expect(await rt.wait(good.id)).toBe(3);
    expect((await rt.readExit(good.id))?.exitCode).toBe(3);
    const killed = await saved('killed');
    writeFileSync(rt.store.paths(killed.id).fact('shim.pid'), '999999999');
    expect((await rt.inspect(killed.id)).state).toMatchObject({ status: 'exited', exitCode: 137 });
    expect(await rt.readExit(killed.id)).toBeUndefined();
  });
});

describe('prune', () => {
  it('removes every stopped container and reports each one it could not remove, with the reason', async () => {
    const a = await saved('a');
    const b = await saved('b');
    const c = await saved('c');
    exited(c, exitJson(0));
    // b's cgroup is a file where a directory should be: its removal fails for real, the others go on.
    const cg = dirname(cgroups.open(b.id).procsFiles[0]!);
    mkdirSync(dirname(cg), { recursive: true });
    writeFileSync(cg, '');
    const result = await rt.prune();
    expect(result.removed.sort()).toEqual([a.id, c.id].sort());
    expect(result.failed).toHaveLength(1);
    expect(result.failed[0]!.id).toBe(b.id);
    expect(result.failed[0]!.error).toMatch(/not a directory|ENOTDIR/i);
    expect((await rt.list({ all: true })).map((x) => x.id)).toEqual([b.id]);
  });
  it('skips running and restarting containers and keeps going after a failure', async () => {
    const info = (id: string, status: ContainerInfo['state']['status']): ContainerInfo =>
      ({ id, state: { status, running: status === 'running' } }) as ContainerInfo;
    const tried: string[] = [];
    const result = await pruneStopped(
      [
        info('run', 'running'),
        info('rst', 'restarting'),
        info('x', 'exited'),
        info('z', 'exited'),
        info('y', 'created'),
      ],
      async (id) => {
        tried.push(id);
        if (id === 'x') throw new TvctlError('CGROUP_REMOVE', 'cannot remove cgroup x: EBUSY');
        // started between the listing and its removal: skipped, not a failure
        if (id === 'z') throw new TvctlError('CONTAINER_RUNNING', 'cannot remove container z: container is running');
        return id;
      },
    );
    expect(tried).toEqual(['x', 'z', 'y']);
    expect(result).toEqual({ removed: ['y'], failed: [{ id: 'x', error: 'cannot remove cgroup x: EBUSY' }] });
  });
});

describe('update', () => {
  it('records the merged limits of a stopped container without touching cgroups', async () => {
    const rec = await saved('u', { limits: { memory: 64 * 1024 * 1024, pidsLimit: 100 } });
    const res = await rt.update(rec.id, { memory: 128 * 1024 * 1024 });
    expect(res).toEqual({ id: rec.id, limits: { memory: 128 * 1024 * 1024, pidsLimit: 100 }, applied: false });
    expect((await rt.store.load(rec.id)).hostConfig.limits).toEqual(res.limits);
    expect(tree.writesRel()).toEqual([]); // nothing written to any cgroup
  });
  it("rejects a change that breaks Docker's rules against the recorded limits, and records nothing", async () => {
    const rec = await saved('u', { limits: { memory: 64 * 1024 * 1024, memorySwap: 128 * 1024 * 1024 } });
    await expect(rt.update(rec.id, { memory: 256 * 1024 * 1024 })).rejects.toMatchObject({ code: 'BAD_LIMIT' });
    expect((await rt.store.load(rec.id)).hostConfig.limits.memory).toBe(64 * 1024 * 1024);
  });
});

describe('ps listing', () => {
  it('filters by status (which implies all), name, label and id; newest first', async () => {
    const old = await saved('web-old', { labels: { tier: 'front' } }, '2026-01-01T00:00:00.000Z');
    const neu = await saved('db', { labels: { tier: 'back', pii: '' } }, '2026-01-02T00:00:00.000Z');
    exited(old, exitJson(0));
    const names = async (all: boolean, ...specs: string[]) =>
      (await listContainers(rt, { all, filters: specs.map(parseFilter) })).map((c) => c.name);
    expect(await names(false)).toEqual([]);
    expect(await names(true)).toEqual(['db', 'web-old']);
    expect(await names(false, 'status=exited')).toEqual(['web-old']);
    expect(await names(false, 'status=created')).toEqual(['db']);
    expect(await names(true, 'name=web')).toEqual(['web-old']);
    expect(await names(true, 'label=pii')).toEqual(['db']);
    expect(await names(true, 'label=tier=front')).toEqual(['web-old']);
    expect(await names(true, `id=${neu.id.slice(0, 6)}`)).toEqual(['db']);
    expect(await names(true, 'name=web', 'label=tier=back')).toEqual([]);
  });
  it('rejects an unknown filter key', () => {
    expect(() => parseFilter('color=red')).toThrow(/invalid filter "color=red"/);
    expect(() => parseFilter('status')).toThrow(TvctlError);
  });
  it('reports the requested ports of a stopped container', async () => {
    const rec = await saved('p', { publish: [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }] });
    const entry = toPsEntry(await rt.inspect(rec.id));
    expect(entry).toMatchObject({ name: 'p', state: 'created', status: 'Created', command: 'sh' });
    expect(entry.ports).toBe('0.0.0.0:8080->80/tcp');
  });
});

describe('StatsSampler', () => {
  it('computes CPU % over the time between two samples and reads memory and pids from the cgroup', async () => {
    const rec = await saved('s', { network: 'host' });
    await cgroups.create(rec.id, {});
    const cg = dirname(cgroups.open(rec.id).procsFiles[0]!);
    const info = await rt.inspect(rec.id);
    const c: ContainerInfo = { ...info, state: { ...info.state, status: 'running', running: true } };
    writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 1000\n');
    const sampler = new StatsSampler(rt, 8 * 1024 ** 3);
    await sampler.start([c]);
    writeFileSync(join(cg, 'cpu.stat'), 'usage_usec 501000\n');
    writeFileSync(join(cg, 'memory.current'), String(32 * 1024 ** 2));
    writeFileSync(join(cg, 'pids.current'), '3');
    const [busy] = await sampler.sample([c]);
    expect(busy!.cpuPercent).toBeGreaterThan(0);
    expect(busy).toMatchObject({ memoryUsageBytes: 32 * 1024 ** 2, memoryLimitBytes: 8 * 1024 ** 3, pids: 3 });
    expect(busy!.netRxBytes).toBeNull(); // host network: no namespace of its own to count
    const [idle] = await sampler.sample([c]);
    expect(idle!.cpuPercent).toBe(0);
  });
  it('shows zeros for a container that is not running', async () => {
    const rec = await saved('z');
    const sampler = new StatsSampler(rt, 1024);
    await sampler.start([await rt.inspect(rec.id)]);
    expect(await sampler.sample([await rt.inspect(rec.id)])).toMatchObject([
      { cpuPercent: 0, memoryUsageBytes: 0, pids: 0 },
    ]);
  });
});

describe('volume sources', () => {
  it('are created when missing, used as they are when they exist (files too)', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const missing = join(dir, 'a', 'b');
    await ensureVolumeSources([
      { source: missing, destination: '/a', readonly: false },
      { source: file, destination: '/f', readonly: true },
    ]);
    expect(statSync(missing).isDirectory()).toBe(true);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
  it('that cannot be created fail with the reason instead of being dropped', async () => {
    const file = join(dir, 'file');
    writeFileSync(file, 'x');
    const below = join(file, 'sub');
    await expect(ensureVolumeSources([{ source: below, destination: '/x', readonly: false }])).rejects.toMatchObject({
      code: 'INVALID_VOLUME',
      message: expect.stringMatching(/cannot create volume source ".*file\/sub": .*(ENOTDIR|not a directory)/i),
    });
  });
});

describe('logs', () => {
  const line = (t: string, stream: string, text: string) => `2026-01-01T00:00:0${t}.000000000Z ${stream} F ${text}\n`;
  it('passes the selected records of the log to emit, stderr kept apart, and returns them', async () => {
    const rec = await saved('l');
    mkdirSync(rt.store.paths(rec.id).dataDir, { recursive: true });
    writeFileSync(
      rt.store.paths(rec.id).log,
      line('1', 'stdout', 'one') + line('2', 'stderr', 'two') + line('3', 'stdout', 'three'),
    );
    const emitted: string[] = [];
    const got = await rt.logs('l', { tail: 2 }, (r) => emitted.push(`${r.stream}:${r.content}`));
    expect(emitted).toEqual(['stderr:two', 'stdout:three']);
    expect(got.map((r) => r.content)).toEqual(['two', 'three']);
    expect((await rt.logs('l', { since: Date.parse('2026-01-01T00:00:03Z') }, () => undefined)).length).toBe(1);
  });
  it('returns nothing for a container that never logged, also when following (it is not running)', async () => {
    await saved('quiet');
    expect(await rt.logs('quiet', { follow: true }, () => undefined)).toEqual([]);
  });
});
