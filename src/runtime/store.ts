import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-write.js';
import { createExclusive, mkdir, readFile, readdir, removeTreeFast, unlink } from '../util/fs-fast.js';
import { join } from 'node:path';
import { TvctlError, errorMessage, isErrno } from '../errors.js';
import type { Roots } from '../paths.js';
import { isValidName } from './ids.js';
import { pidAlive } from '../util/lock.js';
import type { ContainerFacts, ContainerRecord, ExitRecord } from './types.js';

/** Where a container's files live. Runtime facts under the state root, the writable layer and logs under data. */
export class ContainerPaths {
  constructor(
    readonly roots: Roots,
    readonly id: string,
  ) {}
  get stateDir(): string {
    return join(this.roots.state, 'containers', this.id);
  }
  get dataDir(): string {
    return join(this.roots.data, 'containers', this.id);
  }
  get record(): string {
    return join(this.stateDir, 'state.json');
  }
  get lock(): string {
    return join(this.stateDir, 'lock');
  }
  get rootfs(): string {
    return join(this.stateDir, 'rootfs');
  }
  get upper(): string {
    return join(this.dataDir, 'upper');
  }
  get work(): string {
    return join(this.dataDir, 'work');
  }
  get log(): string {
    return join(this.dataDir, 'container.log');
  }
  get initConf(): string {
    return join(this.stateDir, 'init.conf');
  }
  get shimConf(): string {
    return join(this.stateDir, 'shim.conf');
  }
  fact(name: 'pid' | 'shim.pid' | 'exit' | 'restarts' | 'stopped'): string {
    return join(this.stateDir, name);
  }
}

/** The container state store: records, name reservations, lookup by id, prefix or name. */
export class ContainerStore {
  constructor(readonly roots: Roots) {}

  paths(id: string): ContainerPaths {
    return new ContainerPaths(this.roots, id);
  }

  private get containersDir(): string {
    return join(this.roots.state, 'containers');
  }
  private get namesDir(): string {
    return join(this.roots.state, 'names');
  }

  /** Reserves a name atomically (O_EXCL): of two concurrent creators exactly one wins. */
  async reserveName(name: string, id: string): Promise<void> {
    if (!isValidName(name)) {
      throw new TvctlError(
        'INVALID_NAME',
        `invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`,
      );
    }
    await mkdir(this.namesDir, { recursive: true, mode: 0o700 });
    try {
      await createExclusive(join(this.namesDir, name), id, 0o600);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      const owner = await readFile(join(this.namesDir, name), 'utf8').catch(() => '');
      throw new TvctlError(
        'NAME_IN_USE',
        `the container name "/${name}" is already in use by container "${owner}"; remove (or rename) that container to reuse the name`,
      );
    }
  }

  async releaseName(name: string, id: string): Promise<void> {
    const file = join(this.namesDir, name);
    const owner = await readFile(file, 'utf8').catch(() => '');
    if (owner === id) await unlink(file).catch(() => undefined);
  }

  async save(rec: ContainerRecord): Promise<void> {
    const p = this.paths(rec.id);
    await mkdir(p.stateDir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(p.record, JSON.stringify(rec, null, 2) + '\n');
  }

  async load(id: string): Promise<ContainerRecord> {
    try {
      return JSON.parse(await readFile(this.paths(id).record, 'utf8')) as ContainerRecord;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw noSuchContainer(id);
      throw err;
    }
  }

  async ids(): Promise<string[]> {
    const entries = await readdir(this.containersDir).catch((err: unknown) => {
      if (isErrno(err, 'ENOENT')) return [] as string[];
      throw err;
    });
    return entries.filter((e) => /^[0-9a-f]{64}$/.test(e));
  }

  async list(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const id of await this.ids()) {
      // A record may vanish under a concurrent rm, or not be written yet by a concurrent create.
      const rec = await this.load(id).catch(() => undefined);
      if (rec) out.push(rec);
    }
    return out;
  }

  /** Resolves a full id, a name, or a unique id prefix (as Docker does). */
  async resolve(ref: string): Promise<string> {
    if (ref.length === 0) throw noSuchContainer(ref);
    const byName = await readFile(join(this.namesDir, ref.replace(/^\//, '')), 'utf8').catch(() => '');
    if (/^[0-9a-f]{64}$/.test(byName)) return byName;
    if (!/^[0-9a-f]+$/.test(ref)) throw noSuchContainer(ref);
    const matches = (await this.ids()).filter((id) => id.startsWith(ref));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) {
      throw new TvctlError('AMBIGUOUS_ID', `multiple containers found with provided prefix: ${ref}`);
    }
    throw noSuchContainer(ref);
  }

  /** Reads the facts the supervisor left; liveness comes from /proc, not from the files. */
  async facts(id: string): Promise<ContainerFacts> {
    const p = this.paths(id);
    const num = async (f: 'pid' | 'shim.pid' | 'restarts'): Promise<number | undefined> => {
      const n = Number.parseInt(await readFile(p.fact(f), 'utf8').catch(() => ''), 10);
      return Number.isFinite(n) && n > 0 ? n : undefined;
    };
    const [shimPid, initPid, restarts, exitText, startedAt] = await Promise.all([
      num('shim.pid'),
      num('pid'),
      num('restarts'),
      // An exit file that exists but cannot be read makes this one container dead, as a corrupt one does,
      // instead of failing every listing that derives its state.
      readFile(p.fact('exit'), 'utf8').catch((err: unknown) =>
        isErrno(err, 'ENOENT') ? undefined : { unreadable: errorMessage(err) },
      ),
      readFile(join(p.stateDir, 'started'), 'utf8').catch(() => ''),
    ]);
    const exit =
      exitText === undefined
        ? undefined
        : typeof exitText === 'string'
          ? parseExitFile(exitText)
          : { corrupt: `cannot be read (${exitText.unreadable})` };
    const facts: ContainerFacts = {
      shimAlive: shimPid !== undefined && processIs(shimPid, 'tvinit'),
      initAlive: initPid !== undefined && pidAlive(initPid),
      restarts: restarts ?? 0,
    };
    if (shimPid !== undefined) facts.shimPid = shimPid;
    if (initPid !== undefined) facts.initPid = initPid;
    if (exit && 'exit' in exit) facts.exit = exit.exit;
    if (exit && 'corrupt' in exit) facts.exitCorrupt = exit.corrupt;
    if (startedAt.trim()) facts.startedAt = startedAt.trim();
    return facts;
  }

  /**
   * The writable layer and logs first, the record last: a removal that fails half-way leaves the container
   * listed, so that it is reported and can be removed again, instead of a data dir no record points to.
   */
  async removeFiles(id: string): Promise<void> {
    const p = this.paths(id);
    await removeTree(p.dataDir);
    await removeTree(p.stateDir);
  }
}

/**
 * The supervisor's exit file (written atomically, so never seen half-written): an ExitRecord, or why it is
 * not one. A corrupt file is reported as such, never read as "no exit recorded".
 */
export function parseExitFile(text: string): { exit: ExitRecord } | { corrupt: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { corrupt: text.trim() === '' ? 'the file is empty' : `not JSON (${errorMessage(err)})` };
  }
  const r = value as Partial<ExitRecord> | null;
  if (typeof r !== 'object' || r === null || typeof r.exitCode !== 'number') {
    return { corrupt: 'no numeric exitCode in it' };
  }
  return { exit: r as ExitRecord };
}

/** A pid is only ours if it is alive and still runs the expected program (pids are reused). */
export function processIs(pid: number, comm: string): boolean {
  try {
    // Synchronous on purpose: a tiny procfs read, used in tight status loops.
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const open = text.indexOf('(');
    const close = text.lastIndexOf(')');
    const name = text.slice(open + 1, close);
    const state = text.slice(close + 2, close + 3);
    return state !== 'Z' && name.startsWith(comm.slice(0, 15));
  } catch {
    return false;
  }
}

/**
 * rm -rf that tolerates a file appearing while the tree is deleted (the supervisor's `reap` taking the
 * container lock at that moment): the kernel says ENOTEMPTY, and another pass finishes the job.
 */
async function removeTree(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await removeTreeFast(dir);
      return;
    } catch (err) {
      if (!isErrno(err, 'ENOTEMPTY') || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

export function noSuchContainer(ref: string): TvctlError {
  return new TvctlError('NO_SUCH_CONTAINER', `no such container: ${ref}`);
}
