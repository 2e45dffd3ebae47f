import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { buildUmociTwoLayerImage } from '../fixtures/images/umoci.js';
import {
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  REPO,
  TVCTL,
  importDemo,
  isRoot,
  makeRoots,
  tvctl as tvctlRaw,
  waitFor,
  type TestRoots,
} from '../helpers/cli.js';
import { missingTools, withReason } from '../helpers/prereq.js';
import {
  buildImage,
  layoutTar,
  legacyDockerSave,
  makeTar,
  sha256,
  writeLayout,
  zstd,
  type FixtureEntry,
} from '../fixtures/images/build.js';

const noUmociSkopeo = missingTools('umoci', 'skopeo');
const noSkopeo = missingTools('skopeo');
const noPython = missingTools('python3');

let roots: TestRoots;
let work: string;
beforeEach(async () => {
  roots = await makeRoots();
  work = mkdtempSync(join(tmpdir(), 'tvctl-img-'));
});
afterEach(async () => {
  await roots.cleanup();
  rmSync(work, { recursive: true, force: true });
});

interface Out {
  exitCode: number;
  stdout: string;
  stderr: string;
}
async function tvctl(r: TestRoots, args: string[], opts: { timeout?: number } = {}): Promise<Out> {
  const x = await tvctlRaw(r, args, opts);
  return { exitCode: x.exitCode ?? -1, stdout: String(x.stdout), stderr: String(x.stderr) };
}
async function tvctlFile(r: TestRoots, args: string[], inputFile: string): Promise<Out> {
  const x = await execa(TVCTL, args, { env: r.env, inputFile, reject: false });
  return { exitCode: x.exitCode ?? -1, stdout: String(x.stdout), stderr: String(x.stderr) };
}

const imagesDir = () => join(roots.data, 'images');
async function load(file: string, ...extra: string[]) {
  return tvctl(roots, ['image', 'load', '-i', file, ...extra], { timeout: 120_000 });
}
async function inspect(ref: string): Promise<any> {
  const r = await tvctl(roots, ['image', 'inspect', ref, '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  return JSON.parse(r.stdout)[0];
}
/** The store after a failed load: no image, no layer, no blob, no staging leftovers. */
function expectStoreEmpty() {
  const d = imagesDir();
  if (!existsSync(d)) return;
  expect(readdirSync(join(d, 'layers'))).toEqual([]);
  expect(readdirSync(join(d, 'blobs', 'sha256'))).toEqual([]);
  expect(readdirSync(join(d, 'tmp'))).toEqual([]);
  const db = existsSync(join(d, 'repositories.json'))
    ? JSON.parse(readFileSync(join(d, 'repositories.json'), 'utf8'))
    : { images: {} };
  expect(db.images).toEqual({});
}
function expectOneLineError(r: { exitCode?: number; stderr: string }, re: RegExp) {
  expect(r.exitCode).toBe(125);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^tvctl: /);
  expect(r.stderr).toMatch(re);
}
async function run(ref: string, ...cmd: string[]) {
  const r = await tvctl(roots, ['run', '--rm', '--network', 'none', ref, ...cmd]);
  if (r.exitCode !== 0) console.log(`run ${ref} ${cmd.join(' ')} → ${r.exitCode}: ${r.stderr}`);
  return r;
}

const busybox = readFileSync('/bin/busybox');

describe.skipIf(!isRoot)('image interop with umoci and skopeo (root)', () => {
  let layout: string;

  const buildWithUmoci = (dir: string): Promise<string> =>
    buildUmociTwoLayerImage(dir, { layer2Extra: [{ path: 'data/added', data: 'added\n' }] });

  async function checkMerged(ref: string) {
    expect((await run(ref)).stdout).toBe('keep'); // the image's own Cmd
    const ls = await run(ref, '/bin/busybox', 'ls', '-A', '/etc', '/etc/conf', '/data');
    expect(ls.exitCode, ls.stderr).toBe(0);
    expect(ls.stdout).not.toMatch(/gone|old1|\.wh\./);
    expect(ls.stdout).toMatch(/keep/);
    expect(ls.stdout).toMatch(/new/);
    expect(ls.stdout).toMatch(/added/);
    const wh = await run(ref, '/bin/busybox', 'find', '/', '-xdev', '-name', '.wh.*');
    expect(wh.stdout).toBe('');
    const env = await run(ref, '/bin/busybox', 'sh', '-c', 'echo $FOO; pwd');
    expect(env.stdout).toBe('bar\n/etc');
  }

  it.skipIf(noUmociSkopeo)(
    withReason(
      'loads a two-layer umoci image (deletion + opaque dir) from a directory and from a skopeo oci-archive',
      noUmociSkopeo,
    ),
    async () => {
      layout = await buildWithUmoci(work);
      const r1 = await load(layout, '--tag', 'umo:dir');
      expect(r1.exitCode, r1.stderr).toBe(0);
      expect(r1.stderr).toBe(''); // no progress bar when not a terminal
      await checkMerged('umo:dir');

      const archive = join(work, 'copy.tar');
      await execa('skopeo', ['copy', `oci:${layout}:latest`, `oci-archive:${archive}:latest`]);
      const r2 = await load(archive, '--tag', 'umo:archive');
      expect(r2.exitCode, r2.stderr).toBe(0);
      await checkMerged('umo:archive');
      // Same content → same image id and shared layers.
      expect((await inspect('umo:archive')).Id).toBe((await inspect('umo:dir')).Id);
      expect(readdirSync(join(imagesDir(), 'layers'))).toHaveLength(2);
    },
  );

  it.skipIf(noSkopeo)(
    withReason('writes `image save` archives that skopeo reads back and that load again to the same image', noSkopeo),
    async () => {
      await importDemo(roots);
      const id = (await inspect('demo')).Id;
      const out = join(work, 'saved.tar');
      const s = await tvctl(roots, ['image', 'save', '-o', out, 'demo']);
      expect(s.exitCode, s.stderr).toBe(0);
      const sk = JSON.parse((await execa('skopeo', ['inspect', `oci-archive:${out}`])).stdout);
      expect(sk.Digest).toBe((await inspect('demo')).ManifestDigest);
      expect(sk.Layers).toEqual([(await inspect('demo')).RootFS.Layers[0]]);
      // The config blob, byte for byte: its digest is the image id.
      const config = await execa('skopeo', ['inspect', '--config', '--raw', `oci-archive:${out}`], {
        encoding: 'buffer',
        stripFinalNewline: false,
      });
      expect(sha256(Buffer.from(config.stdout))).toBe(id);
      // into a fresh store, by stdin
      const other = await makeRoots();
      try {
        const r = await tvctlFile(other, ['image', 'load'], out);
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/Loaded image: demo:latest/);
        const again = await tvctl(other, ['image', 'inspect', 'demo', '--json']);
        expect(JSON.parse(again.stdout)[0].Id).toBe(id);
        const hi = await tvctl(other, ['run', '--rm', '--network', 'none', 'demo', 'cat', '/var/www/index.html']);
        expect(hi.stdout).toMatch(/hello from tvctl/);
      } finally {
        await other.cleanup();
      }
    },
  );
});

describe.skipIf(!isRoot)('image load formats and store behaviour (root)', () => {
  const base: FixtureEntry[] = [
    { path: 'bin/', type: 'Directory' },
    { path: 'bin/busybox', data: busybox, mode: 0o755 },
    { path: 'bin/sh', type: 'SymbolicLink', linkpath: 'busybox' },
    { path: 'etc/', type: 'Directory' },
    { path: 'etc/base', data: 'base\n' },
  ];

  it('reads an archive on stdin in place when stdin is a file, and from where it stands if part was read', async () => {
    const layer = makeTar([...base, { path: 'etc/big', data: Buffer.alloc(3 << 20, 7) }]);
    const img = buildImage({ layers: [layer], compress: ['none'] });
    const archive = layoutTar([img], { refName: 'stdin:1' });
    const junk = Buffer.alloc(1000, 0x41);
    writeFileSync(join(work, 'img.tar'), Buffer.concat([junk, archive]));
    const loadFromFd = async (skip: number) => {
      const fd = openSync(join(work, 'img.tar'), 'r');
      try {
        if (skip) readSync(fd, Buffer.alloc(skip), 0, skip, null); // moves the descriptor's position
        // the descriptor itself as stdin (execa would pipe a file through a socket)
        const r = spawnSync(TVCTL, ['image', 'load'], {
          env: { ...roots.env, TVCTL_TRACE: '1' },
          stdio: [fd, 'pipe', 'pipe'],
          timeout: 60_000,
        });
        return { exitCode: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
      } finally {
        closeSync(fd);
      }
    };
    // from its start, junk first: read in place, and refused as not an archive
    const bad = await loadFromFd(0);
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/image load: start \(file\)/);
    expectStoreEmpty();
    // past the junk: the position is honoured (a stream from there) and the image loads
    const ok = await loadFromFd(junk.length);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/image load: start \(stream\)/);
    expect((await inspect('stdin:1')).Id).toBe(img.configDigest);
    // a file from its start is read in place, like -i FILE
    writeFileSync(join(work, 'img.tar'), archive);
    await tvctl(roots, ['image', 'rm', 'stdin:1']);
    const inPlace = await loadFromFd(0);
    expect(inPlace.exitCode, inPlace.stderr).toBe(0);
    expect(inPlace.stderr).toMatch(/image load: start \(file\)/);
    expect((await inspect('stdin:1')).Id).toBe(img.configDigest);
    expect((await run('stdin:1', '/bin/busybox', 'cat', '/etc/base')).stdout).toBe('base');
  });

  it('reads an uncompressed layer from a stdin pipe in the extractor itself (pipe, socket, JS unpacker), and stops cleanly on a bad or cut one', async () => {
    // a layer bigger than what tvctl reads at once (256 KB), so that the extractor reads the rest from the pipe
    const big = makeTar([
      ...base,
      { path: 'etc/big', data: Buffer.alloc(3 << 20, 'z') },
      { path: 'etc/tag', data: 'p' },
    ]);
    const img = buildImage({ layers: [big, makeTar([{ path: 'etc/two', data: '2' }])], compress: ['none', 'gzip'] });
    const archive = layoutTar([img], { refName: 'piped:1' });
    writeFileSync(join(work, 'img.tar'), archive);
    const piped = (file: string, env: NodeJS.ProcessEnv = {}) =>
      execa('sh', ['-c', 'cat "$1" | "$0" image load', TVCTL, file], {
        env: { ...roots.env, TVCTL_TRACE: '1', ...env },
        reject: false,
      });
    const check = async () => {
      expect((await inspect('piped:1')).Id).toBe(img.configDigest);
      expect((await run('piped:1', '/bin/busybox', 'cat', '/etc/tag', '/etc/two', '/etc/base')).stdout).toBe('p2base');
      expect(readdirSync(join(imagesDir(), 'tmp'))).toEqual([]);
      await tvctl(roots, ['image', 'rm', 'piped:1']);
    };
    const r = await piped(join(work, 'img.tar'));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/image load: start \(stream\)/);
    expect(r.stderr).toMatch(/tvuntar: start \(rest of the layer from stdin\)/);
    await check();
    // a socket as stdin (what Node gives a child), and the JS unpacker reading the same pipe
    const sock = await execa(TVCTL, ['image', 'load'], {
      env: { ...roots.env, TVCTL_TRACE: '1' },
      input: archive,
      reject: false,
    });
    expect(sock.exitCode, sock.stderr).toBe(0);
    expect(sock.stderr).toMatch(/rest of the layer from stdin/);
    await check();
    const js = await piped(join(work, 'img.tar'), { TVCTL_UNTAR: 'js' });
    expect(js.exitCode, js.stderr).toBe(0);
    await check();
    // cut in the middle of the big layer, and a hostile big layer: one line, nothing registered or left
    writeFileSync(join(work, 'cut.tar'), archive.subarray(0, archive.indexOf(Buffer.from('zzzz')) + (1 << 20)));
    const cut = await piped(join(work, 'cut.tar'));
    expect(cut.exitCode).toBe(125);
    expect(cut.stderr).toMatch(/^tvctl: .*unexpected end of archive/m);
    const hostile = makeTar([
      { path: 'etc/big', data: Buffer.alloc(1 << 20, 1) },
      { path: '../../../../../../../../tmp/pwned-pipe', data: 'x' },
    ]);
    writeFileSync(join(work, 'bad.tar'), layoutTar([buildImage({ layers: [hostile], compress: ['none'] })]));
    const bad = await piped(join(work, 'bad.tar'));
    expect(bad.exitCode).toBe(125);
    expect(bad.stderr).toMatch(/^tvctl: .*points outside the layer/m);
    expect(existsSync('/tmp/pwned-pipe')).toBe(false);
    expectStoreEmpty();
    // the same bad layer as a blob no image uses: ignored, as from a file (the extractor still reads it all)
    mkdirSync(join(work, 'unref'));
    const index = [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: img.manifestDigest,
        size: img.manifestSize,
        annotations: { 'io.containerd.image.name': 'piped:1' },
      },
    ];
    writeLayout(join(work, 'unref'), [img], index, [hostile]);
    await execa('tar', ['-C', join(work, 'unref'), '-cf', join(work, 'unref.tar'), '.']);
    for (const env of [{}, { TVCTL_UNTAR: 'js' }]) {
      const unref = await piped(join(work, 'unref.tar'), env);
      expect(unref.exitCode, `${JSON.stringify(env)}: ${unref.stderr}`).toBe(0);
      expect(unref.stderr).toMatch(/rest of the layer from stdin|image load: start \(stream\)/);
      await check();
    }
  });

  it('a load killed in the middle of a piped layer leaves no extractor reading the pipe', async () => {
    const big = makeTar([...base, { path: 'etc/big', data: Buffer.alloc(4 << 20, 'k') }]);
    writeFileSync(join(work, 'img.tar'), layoutTar([buildImage({ layers: [big], compress: ['none'] })]));
    // the writer sends the first 1 MB, then waits: the extractor is then reading the pipe
    const load = execa(
      'sh',
      ['-c', '{ head -c 1048576 "$1"; sleep 30; } | exec "$0" image load', TVCTL, join(work, 'img.tar')],
      { env: roots.env, reject: false },
    );
    const extractor = () => execa('pgrep', ['-f', `tvuntar .*${roots.data}.* --pipe-rest `], { reject: false });
    await waitFor(async () => ((await extractor()).stdout !== '' ? true : undefined), 'the extractor to read the pipe');
    const node = await execa('pgrep', ['-f', `snapshot-blob .* image load`], { reject: false });
    const ours = node.stdout
      .split('\n')
      .filter((pid) => pid && readFileSync(`/proc/${pid}/environ`, 'latin1').includes(roots.data));
    expect(ours).toHaveLength(1);
    process.kill(Number(ours[0]), 'SIGKILL');
    await waitFor(
      async () => ((await extractor()).stdout === '' ? true : undefined),
      'the extractor to be gone',
      5_000,
    );
    await execa('pkill', ['-f', `sleep 30`], { reject: false });
    await load;
  });

  it('imports a root file system from stdin: a pipe (plain, gzip, zstd) or a file', async () => {
    const rootfs = makeTar(base);
    const cases: [string, Buffer][] = [
      ['plain', rootfs],
      ['gzip', gzipSync(rootfs)],
      ['zstd', zstd(rootfs)],
    ];
    for (const [name, data] of cases) {
      const r = await execa(TVCTL, ['image', 'import', '-', `imp:${name}`], {
        env: roots.env,
        input: data,
        reject: false,
      });
      expect(r.exitCode, `${name}: ${r.stderr}`).toBe(0);
      expect((await inspect(`imp:${name}`)).RootFS.Layers).toEqual([sha256(rootfs)]);
    }
    writeFileSync(join(work, 'rootfs.tar'), rootfs);
    const fd = openSync(join(work, 'rootfs.tar'), 'r');
    try {
      const r = spawnSync(TVCTL, ['image', 'import', '-', 'imp:file'], { env: roots.env, stdio: [fd, 'pipe', 'pipe'] });
      expect(r.status, String(r.stderr)).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect((await run('imp:file', '/bin/busybox', 'cat', '/etc/base')).stdout).toBe('base');
    // a plain tar bigger than one read, through a real pipe (as from `docker export`): the extractor reads it
    // from the pipe itself; the same through the JS unpacker; a cut one is an error and registers nothing
    const big = makeTar([...base, { path: 'etc/big', data: Buffer.alloc(2 << 20, 'i') }]);
    writeFileSync(join(work, 'big.tar'), big);
    writeFileSync(join(work, 'cut.tar'), big.subarray(0, 1 << 20));
    const imp = (file: string, name: string, env: NodeJS.ProcessEnv = {}) =>
      execa('sh', ['-c', 'cat "$1" | "$0" image import - "$2"', TVCTL, file, name], {
        env: { ...roots.env, TVCTL_TRACE: '1', ...env },
        reject: false,
      });
    for (const env of [{}, { TVCTL_UNTAR: 'js' }]) {
      const r = await imp(join(work, 'big.tar'), 'imp:big', env);
      expect(r.exitCode, r.stderr).toBe(0);
      if (!('TVCTL_UNTAR' in env)) expect(r.stderr).toMatch(/tvuntar: start \(rest of the layer from stdin\)/);
      expect((await inspect('imp:big')).RootFS.Layers).toEqual([sha256(big)]);
      expect((await run('imp:big', '/bin/busybox', 'wc', '-c', '/etc/big')).stdout).toMatch(/^2097152 /);
      await tvctl(roots, ['image', 'rm', 'imp:big']);
      const cut = await imp(join(work, 'cut.tar'), 'imp:cut', env);
      expect(cut.exitCode).toBe(125);
      expect(cut.stderr).toMatch(/^tvctl: .*(unexpected end of archive|truncated)/m);
      expect((await tvctl(roots, ['image', 'inspect', 'imp:cut'])).exitCode).not.toBe(0);
      expect(readdirSync(join(imagesDir(), 'tmp'))).toEqual([]);
    }
  });

  it('loads legacy docker-save archives (<id>/layer.tar, symlinked duplicate layers) with tags and config', async () => {
    const l1 = makeTar(base);
    const l2 = makeTar([
      { path: 'etc/base', data: 'patched\n' },
      { path: 'srv/', type: 'Directory' },
    ]);
    writeFileSync(
      join(work, 'legacy.tar'),
      legacyDockerSave([l1, l2, l1], ['docker.io/library/legacy:1', 'legacy:latest'], true),
    );
    const r = await load(join(work, 'legacy.tar'));
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Loaded image: legacy:1/);
    const i = await inspect('legacy:latest');
    expect(i.RepoTags.sort()).toEqual(['legacy:1', 'legacy:latest']);
    expect(i.Config).toMatchObject({
      WorkingDir: '/srv',
      User: '1000',
      StopSignal: 'SIGINT',
      ExposedPorts: { '80/tcp': {} },
    });
    expect(i.RootFS.Layers).toEqual([sha256(l1), sha256(l2), sha256(l1)]);
    expect(readdirSync(join(imagesDir(), 'layers'))).toHaveLength(2); // l1 unpacked once
    expect((await run('legacy:1', '/bin/busybox', 'cat', '/etc/base')).stdout).toBe('base');
  });

  it('loads Docker ≥ 25 archives (OCI layout + manifest.json), picks linux/amd64 from a nested multi-platform index, sniffs zstd behind a lying media type', async () => {
    const amd = buildImage({
      layers: [makeTar(base), makeTar([{ path: 'etc/arch', data: 'amd64\n' }])],
      compress: ['gzip', 'zstd'],
      mediaTypes: ['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+gzip'],
    });
    const arm = buildImage({
      layers: [makeTar([{ path: 'etc/arch', data: 'arm64\n' }])],
      platform: { os: 'linux', architecture: 'arm64' },
    });
    const nested = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: arm.manifestDigest,
            size: arm.manifestSize,
            platform: { os: 'linux', architecture: 'arm64' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: amd.manifestDigest,
            size: amd.manifestSize,
            platform: { os: 'linux', architecture: 'amd64' },
          },
        ],
      }),
    );
    const dir = join(work, 'multi');
    writeLayout(
      dir,
      [amd, arm],
      [
        {
          mediaType: 'application/vnd.oci.image.index.v1+json',
          digest: sha256(nested),
          size: nested.length,
          annotations: {
            'io.containerd.image.name': 'docker.io/library/multi:2',
            'org.opencontainers.image.ref.name': '2',
          },
        },
      ],
      [nested],
    );
    writeFileSync(
      join(dir, 'manifest.json'),
      JSON.stringify([
        { Config: `blobs/sha256/${amd.configDigest.slice(7)}`, RepoTags: ['multi:2', 'multi:extra'], Layers: [] },
      ]),
    );
    // as a directory
    const r = await load(dir);
    expect(r.exitCode, r.stderr).toBe(0);
    expect((await inspect('multi:2')).Id).toBe(amd.configDigest);
    expect((await inspect('multi:extra')).Id).toBe(amd.configDigest);
    expect((await run('multi:2', '/bin/busybox', 'cat', '/etc/arch')).stdout).toBe('amd64');
    // and as a zstd-compressed tar of that directory, from stdin
    const tarred = await execa('tar', ['-C', dir, '-cf', '-', '.'], { encoding: 'buffer' });
    writeFileSync(join(work, 'multi.tar.zst'), zstd(Buffer.from(tarred.stdout)));
    const before = readdirSync(join(imagesDir(), 'layers')).map((l) => statSync(join(imagesDir(), 'layers', l)).ino);
    const again = await tvctlFile(roots, ['image', 'load', '--json'], join(work, 'multi.tar.zst'));
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual([
      { id: amd.configDigest, repoTags: ['multi:2', 'multi:extra'], layers: 2, newLayers: 0 },
    ]);
    // loading the same image again stores nothing new
    expect(readdirSync(join(imagesDir(), 'layers')).map((l) => statSync(join(imagesDir(), 'layers', l)).ino)).toEqual(
      before,
    );
  });

  it.skipIf(noPython)(
    withReason(
      'converts whiteouts for overlayfs and keeps device nodes, setuid bits and allowed xattrs; drops trusted.* from archives',
      noPython,
    ),
    async () => {
      const l1 = makeTar([
        ...base,
        { path: 'etc/gone', data: 'x' },
        { path: 'opq/', type: 'Directory' },
        { path: 'opq/old', data: 'o' },
        { path: 'sneaky/', type: 'Directory' },
        { path: 'sneaky/visible', data: 'v' },
      ]);
      const cap = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_raw+ep (binary)
      const l2 = makeTar([
        { path: 'etc/.wh.gone', data: '' },
        { path: 'opq/.wh..wh..opq', data: '' },
        { path: 'opq/new', data: 'n' },
        { path: 'dev/', type: 'Directory' },
        { path: 'dev/mynull', type: 'CharacterDevice', devmaj: 1, devmin: 3, mode: 0o666 },
        { path: 'dev/fifo', type: 'FIFO', mode: 0o600 },
        { path: 'usr/bin/su', data: 'suid', mode: 0o4755, uid: 0 },
        {
          path: 'usr/bin/ping',
          data: 'ping',
          mode: 0o755,
          pax: { 'SCHILY.xattr.security.capability': cap, 'SCHILY.xattr.user.note': 'hello' },
        },
        // an archive must not be able to set overlayfs's own attributes (e.g. hide lower content)
        { path: 'sneaky/', type: 'Directory', pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } },
        { path: 'owned', data: 'o', uid: 1234, gid: 5678, mode: 0o2750 },
      ]);
      const img = buildImage({ layers: [l1, l2] });
      writeFileSync(join(work, 'img.tar'), layoutTar([img], { refName: 'wh:1' }));
      const r = await load(join(work, 'img.tar'));
      expect(r.exitCode, r.stderr).toBe(0);
      const top = (await inspect('wh:1')).LayerDirs[1];
      const st = lstatSync(join(top, 'etc/gone'));
      expect(st.isCharacterDevice() && st.rdev === 0).toBe(true);
      expect(existsSync(join(top, 'etc/.wh.gone'))).toBe(false);
      expect(lstatSync(join(top, 'dev/mynull')).isCharacterDevice()).toBe(true);
      expect(lstatSync(join(top, 'dev/mynull')).rdev).toBe(0x103);
      expect(lstatSync(join(top, 'dev/fifo')).isFIFO()).toBe(true);
      expect(statSync(join(top, 'usr/bin/su')).mode & 0o7777).toBe(0o4755);
      const o = statSync(join(top, 'owned'));
      expect([o.uid, o.gid, o.mode & 0o7777]).toEqual([1234, 5678, 0o2750]);
      {
        // Node has no getxattr: python3 reads the attributes back.
        const x = async (p: string, n: string) =>
          (
            await execa('python3', [
              '-c',
              'import os,sys\ntry: print(os.getxattr(sys.argv[1], sys.argv[2]).hex())\nexcept OSError: print("none")',
              p,
              n,
            ])
          ).stdout;
        expect(await x(join(top, 'usr/bin/ping'), 'security.capability')).toBe(cap.toString('hex'));
        expect(await x(join(top, 'usr/bin/ping'), 'user.note')).toBe(Buffer.from('hello').toString('hex'));
        expect(await x(join(top, 'opq'), 'trusted.overlay.opaque')).toBe(Buffer.from('y').toString('hex'));
        expect(await x(join(top, 'sneaky'), 'trusted.overlay.opaque')).toBe('none');
      }
      // The merged view in a container
      const ls = await run(
        'wh:1',
        'sh',
        '-c',
        'ls -A /etc /opq /sneaky; test -e /etc/gone && echo GONE-VISIBLE; find / -xdev -name ".wh.*"',
      );
      expect(ls.exitCode, ls.stderr).toBe(0);
      expect(ls.stdout).not.toMatch(/GONE-VISIBLE|\.wh\.|old/);
      expect(ls.stdout).toMatch(/new/);
      expect(ls.stdout).toMatch(/visible/);
    },
  );

  describe('hostile layers: nothing outside the store, one clear error, nothing registered', () => {
    let outside: string;
    beforeEach(() => {
      outside = join(work, 'outside');
      mkdirSync(outside);
      writeFileSync(join(outside, 'victim'), 'original');
    });
    const cases: [string, () => FixtureEntry[], RegExp][] = [
      [
        '.. entry',
        () => [{ path: '../../../../../../../..' + '/tmp/pwned-dotdot', data: 'x' }],
        /points outside the layer/,
      ],
      [
        'symlink then write through it',
        () => [
          { path: 'esc', type: 'SymbolicLink', linkpath: outside },
          { path: 'esc/victim', data: 'pwned' },
        ],
        /through the symbolic link "esc"/,
      ],
      [
        'symlink dir then mkdir+file through it',
        () => [
          { path: 'a', type: 'SymbolicLink', linkpath: outside },
          { path: 'a/new/', type: 'Directory' },
          { path: 'a/new/f', data: 'x' },
        ],
        /symbolic link "a"/,
      ],
      [
        'hard link to a host file',
        () => [{ path: 'hl', type: 'Link', linkpath: join(outside, 'victim') }],
        /not a file earlier in this layer/,
      ],
      [
        'hard link through a symlink',
        () => [
          { path: 's', type: 'SymbolicLink', linkpath: outside },
          { path: 'hl', type: 'Link', linkpath: 's/victim' },
        ],
        /not a file earlier in this layer/,
      ],
      ['whiteout aiming outside', () => [{ path: 'x/.wh...', data: '' }], /whiteout/],
      ['whiteout with .. path', () => [{ path: '../.wh.victim', data: '' }], /outside the layer/],
      ['very long name', () => [{ path: 'd/' + 'n'.repeat(4000), data: 'x' }], /name too long/],
    ];
    for (const [name, entries, re] of cases) {
      it(name, async () => {
        const img = buildImage({ layers: [makeTar([{ path: 'ok', data: 'fine' }, ...entries()])] });
        writeFileSync(join(work, 'bad.tar'), layoutTar([img]));
        const r = await load(join(work, 'bad.tar'));
        expectOneLineError(r, re);
        expectStoreEmpty();
        expect(readdirSync(outside)).toEqual(['victim']);
        expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('original');
        expect(existsSync('/tmp/pwned-dotdot')).toBe(false);
      });
    }

    it('duplicate entries and absolute paths stay inside the layer (load succeeds)', async () => {
      const img = buildImage({
        layers: [
          makeTar([
            { path: `${outside}/victim`, data: 'inside' },
            { path: 'dup', data: '1' },
            { path: 'dup', type: 'SymbolicLink', linkpath: join(outside, 'victim') },
            { path: 'dup', data: '2' },
          ]),
        ],
      });
      writeFileSync(join(work, 'dup.tar'), layoutTar([img]));
      const r = await load(join(work, 'dup.tar'));
      expect(r.exitCode, r.stderr).toBe(0);
      const dir = (await inspect('test/img')).LayerDirs[0];
      expect(readFileSync(join(dir, outside, 'victim'), 'utf8')).toBe('inside');
      expect(readFileSync(join(dir, 'dup'), 'utf8')).toBe('2');
      expect(readFileSync(join(outside, 'victim'), 'utf8')).toBe('original');
    });
  });

  describe('atomic loads: a broken archive registers nothing', () => {
    const good = () => buildImage({ layers: [makeTar(base), makeTar([{ path: 'etc/two', data: '2' }])] });
    const cases: [string, () => Buffer, RegExp][] = [
      ['truncated file', () => layoutTar([good()]).subarray(0, 3000), /truncated|missing/],
      [
        'bad JSON',
        () =>
          makeTar([
            { path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
            { path: 'index.json', data: '{not json' },
          ]),
        /index.json.*not valid JSON/,
      ],
      [
        'digest mismatch',
        () =>
          layoutTar([good()], {
            tamper: (d, b) =>
              b.length > 1000 ? Buffer.concat([b.subarray(0, 100), Buffer.from('X'), b.subarray(101)]) : b,
          }),
        /does not match its digest/,
      ],
      [
        'digest mismatch in an uncompressed layer',
        () =>
          layoutTar([buildImage({ layers: [makeTar(base)], compress: ['none'] })], {
            tamper: (d, b) =>
              b.length > 100_000 ? Buffer.concat([b.subarray(0, 50_000), Buffer.from('X'), b.subarray(50_001)]) : b,
          }),
        /does not match its digest/,
      ],
      [
        'unknown media type',
        () => layoutTar([buildImage({ layers: [makeTar(base)], mediaTypes: ['application/vnd.example.not-a-layer'] })]),
        /unknown layer media type "application\/vnd.example.not-a-layer"/,
      ],
      [
        'diff ID mismatch',
        () => layoutTar([buildImage({ layers: [makeTar(base)], diffIds: ['sha256:' + 'e'.repeat(64)] })]),
        /unpacks to sha256:[0-9a-f]+, but the image config says sha256:eee/,
      ],
      [
        'not an archive',
        () => Buffer.from('hello world, I am not a tar file'.repeat(50)),
        /not a valid image archive|not a tar/,
      ],
      [
        'second layer corrupt gzip',
        () =>
          layoutTar([good()], {
            tamper: (d, b) =>
              b[0] === 0x1f && b.length < 1000 ? Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3]) : b,
          }),
        /does not match its digest|gzip/,
      ],
    ];
    for (const [name, make, re] of cases) {
      it(name, async () => {
        writeFileSync(join(work, 'bad.tar'), make());
        const r = await load(join(work, 'bad.tar'));
        expectOneLineError(r, re);
        expectStoreEmpty();
      });
    }

    it('a missing input file is one clear error', async () => {
      expectOneLineError(await load(join(work, 'nope.tar')), /no such file/);
    });
  });

  it('two concurrent loads sharing a layer both register and share it', async () => {
    const shared = makeTar(base);
    const a = buildImage({ layers: [shared, makeTar([{ path: 'a', data: 'a' }])] });
    const b = buildImage({ layers: [shared, makeTar([{ path: 'b', data: 'b' }])] });
    writeFileSync(join(work, 'a.tar'), layoutTar([a], { refName: 'conc/a:1' }));
    writeFileSync(join(work, 'b.tar'), layoutTar([b], { refName: 'conc/b:1' }));
    const rs = await Promise.all([
      load(join(work, 'a.tar')),
      load(join(work, 'b.tar')),
      load(join(work, 'a.tar')),
      load(join(work, 'b.tar')),
    ]);
    for (const r of rs) expect(r.exitCode, r.stderr).toBe(0);
    expect((await inspect('conc/a:1')).Id).toBe(a.configDigest);
    expect((await inspect('conc/b:1')).Id).toBe(b.configDigest);
    expect(readdirSync(join(imagesDir(), 'layers')).sort()).toEqual(
      [sha256(shared), ...[a, b].map((i) => i.diffIds[1]!)].map((d) => d.slice(7)).sort(),
    );
    expect(readdirSync(join(imagesDir(), 'tmp'))).toEqual([]);
    expect(existsSync(join(imagesDir(), 'lock'))).toBe(false);
    expect((await run('conc/b:1', '/bin/busybox', 'cat', '/b', '/etc/base')).stdout).toBe('bbase');
  });

  it('image rm refuses while a container uses the image; tag, images filters, prune', async () => {
    await importDemo(roots);
    expect((await tvctl(roots, ['image', 'tag', 'demo', 'demo2:x'])).exitCode).toBe(0);
    const q = await tvctl(roots, ['images', '--filter', 'reference=demo2']);
    expect(q.stdout.split('\n')).toHaveLength(2);
    expect(q.stdout).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
    const c = await tvctl(roots, ['create', '--network', 'none', 'demo', 'true']);
    expect(c.exitCode, c.stderr).toBe(0);
    const rmTag = await tvctl(roots, ['image', 'rm', 'demo2:x']);
    expect(rmTag.stdout).toMatch(/Untagged: demo2:x/);
    const refused = await tvctl(roots, ['image', 'rm', '-f', 'demo']);
    expectOneLineError(refused, /used by a container/);
    expect((await tvctl(roots, ['rm', '-f', c.stdout.trim()])).exitCode).toBe(0);
    const ok = await tvctl(roots, ['image', 'rm', 'demo']);
    expect(ok.exitCode, ok.stderr).toBe(0);
    expect((await tvctl(roots, ['images', '-q'])).stdout).toBe('');
    expect(readdirSync(join(imagesDir(), 'layers'))).toEqual([]);
  });

  describe("the launcher's head start on the first layer (tvuntar --prefetch)", () => {
    // A layer of at least 1 MiB in an archive file, loaded into a store that exists: bin/tvctl has tvuntar
    // unpack it while Node starts, and tvctl adopts it (src/images/prefetch.ts).
    const bigLayer = (tag: string) =>
      makeTar([...base, { path: 'etc/big', data: Buffer.alloc(2 << 20, tag) }, { path: 'etc/tag', data: tag }]);
    const traced = (args: string[], env: NodeJS.ProcessEnv = {}) =>
      execa(TVCTL, args, { env: { ...roots.env, TVCTL_TRACE: '1', ...env }, reject: false, stdin: 'ignore' });
    /** the store's staging area is empty and no extractor of this store is left running */
    const expectNothingLeft = async () => {
      expect(readdirSync(join(imagesDir(), 'tmp'))).toEqual([]);
      const ps = await execa('pgrep', ['-af', `tvuntar --prefetch .* ${roots.data} `], { reject: false });
      expect(ps.stdout).toBe('');
    };
    beforeEach(async () => importDemo(roots)); // the store exists

    it('adopts the layer it started: same image as a load without it, and nothing left behind', async () => {
      const img = buildImage({ layers: [bigLayer('p')], compress: ['none'] });
      writeFileSync(join(work, 'img.tar'), layoutTar([img], { refName: 'pf:1' }));
      const r = await traced(['image', 'load', '-i', join(work, 'img.tar')]);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(r.stderr).toMatch(/prefetch: adopting the layer the launcher started/);
      expect(r.stderr).not.toMatch(/tvuntar: start \(in place\)/);
      await expectNothingLeft();
      expect((await inspect('pf:1')).Id).toBe(img.configDigest);
      expect((await run('pf:1', '/bin/busybox', 'cat', '/etc/tag', '/etc/base')).stdout).toBe('pbase');
      // the same layer through tvctl's own unpacking gives the same tree
      const other = await makeRoots();
      try {
        await importDemo(other);
        const plain = await execa(TVCTL, ['image', 'load', '-i', join(work, 'img.tar')], {
          env: { ...other.env, TVCTL_NO_PREFETCH: '1', TVCTL_TRACE: '1' },
          reject: false,
        });
        expect(plain.stderr).toMatch(/tvuntar: start \(in place\)/);
        const tree = async (rs: TestRoots) => {
          const dir = (await tvctl(rs, ['image', 'inspect', 'pf:1', '--json'])).stdout;
          const layer = JSON.parse(dir)[0].LayerDirs[0];
          return (await execa('find', [layer, '-printf', '%P %m %s %U %T@\\n'])).stdout
            .split('\n')
            .filter((l) => !l.startsWith(' ')) // the layer's root, not in the tar: made at unpack time
            .sort();
        };
        expect(await tree(roots)).toEqual(await tree(other));
      } finally {
        await other.cleanup();
      }
      // loaded again: the layer is in the store, so nothing is started (tvctl only verifies the blob)
      await tvctl(roots, ['image', 'tag', 'pf:1', 'pf:2']);
      const again = await traced(['image', 'load', '-i', join(work, 'img.tar')]);
      expect(again.exitCode, String(again.stderr)).toBe(0);
      expect(again.stderr).not.toMatch(/prefetch|tvuntar/);
    });

    it('a smaller layer first, then the prefetched one; from stdin redirected from the file too', async () => {
      const img = buildImage({
        layers: [makeTar([{ path: 'small', data: 's' }]), bigLayer('q')],
        compress: ['none', 'none'],
      });
      writeFileSync(join(work, 'img.tar'), layoutTar([img], { refName: 'pf:2' }));
      const fd = openSync(join(work, 'img.tar'), 'r');
      let r;
      try {
        r = spawnSync(TVCTL, ['image', 'load'], {
          env: { ...roots.env, TVCTL_TRACE: '1' },
          stdio: [fd, 'pipe', 'pipe'],
          timeout: 60_000,
        });
      } finally {
        closeSync(fd);
      }
      expect(r.status, String(r.stderr)).toBe(0);
      expect(String(r.stderr)).toMatch(/prefetch: adopting/);
      await expectNothingLeft();
      expect((await run('pf:2', '/bin/busybox', 'cat', '/small', '/etc/tag')).stdout).toBe('sq');
    });

    it('a bad flag, a hostile layer, another file: one clear error or its own unpacking, nothing left', async () => {
      const img = buildImage({ layers: [bigLayer('r')], compress: ['none'] });
      writeFileSync(join(work, 'img.tar'), layoutTar([img], { refName: 'pf:3' }));
      const bad = await traced(['image', 'load', '-i', join(work, 'img.tar'), '--no-such-flag']);
      expect(bad.exitCode).not.toBe(0);
      expect(
        String(bad.stderr)
          .split('\n')
          .filter((l) => !l.startsWith('[trace]')),
      ).toHaveLength(1);
      await expectNothingLeft();

      const hostile = makeTar([
        { path: 'etc/big', data: Buffer.alloc(2 << 20, 1) },
        { path: '../../../../../../../../tmp/pwned-prefetch', data: 'x' },
      ]);
      writeFileSync(join(work, 'bad.tar'), layoutTar([buildImage({ layers: [hostile], compress: ['none'] })]));
      const h = await traced(['image', 'load', '-i', join(work, 'bad.tar')]);
      expect(h.stderr).toMatch(/prefetch: adopting/);
      // the head start's error is not trusted: tvctl unpacks the layer again, and reports its own
      expect(h.stderr).toMatch(/prefetch: the extractor failed .*; unpacking here/);
      expect(h.stderr).toMatch(/tvuntar: start \(in place\)/);
      expect(h.exitCode).toBe(125);
      expect(h.stderr).toMatch(/^tvctl: .*points outside the layer/m);
      expect(existsSync('/tmp/pwned-prefetch')).toBe(false);
      await expectNothingLeft();
      expect((await tvctl(roots, ['images', '-q'])).stdout.split('\n')).toHaveLength(1); // only the demo

      // the launcher started on another file than the one tvctl reads: released, and loaded by tvctl itself
      writeFileSync(join(work, 'other.tar'), layoutTar([buildImage({ layers: [bigLayer('s')], compress: ['none'] })]));
      const tvuntar = join(REPO, 'native', 'out', 'tvuntar');
      const blob = join(REPO, 'dist', 'tvctl.blob');
      const x = await execa(
        tvuntar,
        [
          '--prefetch',
          join(work, 'other.tar'),
          roots.data,
          '--',
          'node',
          '--snapshot-blob',
          blob,
          REPO,
          'image',
          'load',
          '-i',
          join(work, 'img.tar'),
        ],
        { env: { ...roots.env, TVCTL_TRACE: '1' }, stdin: 'ignore', reject: false },
      );
      expect(x.exitCode, String(x.stderr)).toBe(0);
      expect(x.stderr).toMatch(/prefetch: not this layer, released/);
      expect(x.stderr).toMatch(/tvuntar: start \(in place\)/);
      await expectNothingLeft();
      expect((await run('pf:3', '/bin/busybox', 'cat', '/etc/tag')).stdout).toBe('r');
    });

    it('works with stdin, stdout or stderr closed, and stands aside for TVCTL_UNTAR=js', async () => {
      const img = buildImage({ layers: [bigLayer('t')], compress: ['none'] });
      writeFileSync(join(work, 'img.tar'), layoutTar([img], { refName: 'pf:4' }));
      for (const closed of ['<&-', '>&-', '2>&-']) {
        await tvctl(roots, ['image', 'rm', 'pf:4']);
        const r = await execa('sh', ['-c', `"$0" image load -q -i "$1" ${closed}`, TVCTL, join(work, 'img.tar')], {
          env: { ...roots.env, TVCTL_TRACE: '1' },
          reject: false,
        });
        expect(r.exitCode, `${closed}: ${r.stderr}`).toBe(0);
        if (closed !== '2>&-') expect(r.stderr).toMatch(/prefetch: adopting/);
        await expectNothingLeft();
        expect((await inspect('pf:4')).Id).toBe(img.configDigest);
      }
      await tvctl(roots, ['image', 'rm', 'pf:4']);
      const js = await traced(['image', 'load', '-i', join(work, 'img.tar')], { TVCTL_UNTAR: 'js' });
      expect(js.exitCode, String(js.stderr)).toBe(0);
      expect(js.stderr).not.toMatch(/prefetch/);
      await expectNothingLeft();
    });
  });
});
