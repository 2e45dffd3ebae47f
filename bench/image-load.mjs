#!/usr/bin/env node
// Times `tvctl image load` of a single-layer image (uncompressed layer, OCI layout tar) against GNU
// `tar -x` of the very same layer tar, in the same run, with a warm page cache for both.
// Usage: node bench/image-load.mjs [--source DIR]... [--runs N] [--compress gzip|zstd] [--compare TVCTL] [--fresh-fs]
//   --fresh-fs: both sides write into a new ext4 (no journal, as this machine's root) on a loop device in
//     /dev/shm, instead of under $TMPDIR: no history of deletions, so runs can follow each other.
//   --warm MB: memory touched and freed before each timed command (default 1536; 0: off), see time().
//   --compress: the layer blob is compressed (gzip -1 or zstd -3); tar then runs with -z or --zstd.
//   --compare: also time another tvctl launcher (e.g. an older checkout's bin/tvctl.js), same runs.
// Default source: /usr/include and /usr/share/doc (~250 MB of real files, small and large); for large
// files, e.g. --source DIR with a few 30-50 MB files of random data.
// tvctl runs through its launcher (bin/tvctl), as a user runs it, into a store that already holds an image.
// It is also timed without the launcher's head start on the layer (TVCTL_NO_PREFETCH=1), and its start-up
// alone (`tvctl images`), in the same runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync, statSync, writeFileSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const tvctl = join(repo, 'bin', 'tvctl');
const args = process.argv.slice(2);
const sources = [];
let runs = 5;
let other;
let compress;
let freshFs = false;
let warmMb = 1536;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--source') sources.push(args[++i]);
  else if (args[i] === '--runs') runs = Number(args[++i]);
  else if (args[i] === '--compare') other = resolve(args[++i]);
  else if (args[i] === '--compress') compress = args[++i];
  else if (args[i] === '--fresh-fs') freshFs = true;
  else if (args[i] === '--warm') warmMb = Number(args[++i]);
}
if (sources.length === 0) sources.push('/usr/include', '/usr/share/doc');
if (process.getuid() !== 0) {
  console.error('run as root (both sides preserve owners, like a real load)');
  process.exit(1);
}

let work = mkdtempSync(join(tmpdir(), 'tvctl-bench-load-'));
let fsImage;
if (freshFs) {
  fsImage = join('/dev/shm', `tvctl-bench-fs-${process.pid}.img`);
  execFileSync('truncate', ['-s', '16G', fsImage]);
  execFileSync('mkfs.ext4', ['-q', '-F', '-O', '^has_journal', fsImage]);
  execFileSync('mount', ['-o', 'loop', fsImage, work]);
  work = join(work, 'w');
  mkdirSync(work);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sha256File = (p) =>
  new Promise((res) => {
    const h = createHash('sha256');
    createReadStream(p)
      .on('data', (c) => h.update(c))
      .on('end', () => res(`sha256:${h.digest('hex')}`));
  });

try {
  // 1. The layer: a plain tar of the sources, as any image builder would write it.
  const layer = join(work, 'layer.tar');
  execFileSync('tar', [
    '--numeric-owner',
    '-cf',
    layer,
    ...sources.map((s) => ['-C', dirname(s), s.split('/').pop()]).flat(),
  ]);
  const layerSize = statSync(layer).size;
  const diffId = await sha256File(layer);
  // 2. An OCI layout around it, tarred: the archive `image load` reads.
  const oci = join(work, 'oci');
  mkdirSync(join(oci, 'blobs', 'sha256'), { recursive: true });
  const compressors = { gzip: ['gzip', '-1'], zstd: ['zstd', '-q', '-3'] };
  if (compress && !compressors[compress]) throw new Error(`--compress: gzip or zstd, not ${compress}`);
  let blob = layer;
  if (compress) {
    blob = `${layer}.${compress}`;
    execFileSync('sh', ['-c', `${compressors[compress].join(' ')} -c "$0" > "$1"`, layer, blob]);
  }
  const blobDigest = blob === layer ? diffId : await sha256File(blob);
  execFileSync('cp', ['--reflink=auto', blob, join(oci, 'blobs', 'sha256', blobDigest.slice(7))]);
  const put = (obj) => {
    const b = Buffer.from(JSON.stringify(obj));
    const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
    writeFileSync(join(oci, 'blobs', 'sha256', d.slice(7)), b);
    return { digest: d, size: b.length };
  };
  const cfg = put({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } });
  const man = put({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: [
      {
        mediaType: `application/vnd.oci.image.layer.v1.tar${compress ? `+${compress}` : ''}`,
        digest: blobDigest,
        size: statSync(blob).size,
      },
    ],
  });
  writeFileSync(join(oci, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    join(oci, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...man,
          annotations: { 'io.containerd.image.name': 'bench:latest' },
        },
      ],
    }),
  );
  const archive = join(work, 'image.tar');
  execFileSync('tar', ['-C', oci, '-cf', archive, '.']);
  rmSync(oci, { recursive: true });
  const files = Number(
    execFileSync('sh', ['-c', `tar -tf ${layer} | wc -l`])
      .toString()
      .trim(),
  );
  console.log(
    `layer: ${(layerSize / 1e6).toFixed(1)} MB, ${files} entries, from ${sources.join(' ')}; archive ${(statSync(archive).size / 1e6).toFixed(1)} MB${compress ? ` (layer ${compress})` : ''}; ${runs} runs each, alternating`,
  );

  // Each timed command starts with no dirty pages from the previous one (sync first, untimed), so neither
  // side pays for the other's write-back. CPU time (user+sys) comes from GNU time and is less sensitive
  // to other load on the machine than wall time.
  const cpu = [];
  const warm = join('/dev/shm', `tvctl-bench-warm-${process.pid}`);
  const time = (file, argv, env) => {
    execFileSync('sync');
    // This VM returns freed memory to the hypervisor (free page reporting), and memory it has to back again
    // is slow to touch (~0.5 GB/s), which made runs 3x slower at random for both sides. Touching and freeing
    // some right before each timed command hands it memory that is backed (reporting lags ~2 s).
    if (warmMb > 0) {
      execFileSync('dd', ['if=/dev/zero', `of=${warm}`, 'bs=16M', `count=${Math.ceil(warmMb / 16)}`], {
        stdio: 'ignore',
      });
      rmSync(warm);
    }
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', '%U %S', file, ...argv], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`${file} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
    const [u, sy] = String(r.stderr).trim().split('\n').pop().split(' ').map(Number);
    cpu.push((u + sy) * 1000);
    return ms;
  };
  const tarCpu = [];
  const tarMs = [];
  const loadMs = [];
  const startMs = [];
  const plainMs = [];
  const plainCpu = [];
  const tiny = join(work, 'tiny.tar');
  mkdirSync(join(work, 'tiny'));
  writeFileSync(join(work, 'tiny', 'hello'), 'hi\n');
  execFileSync('tar', ['-C', join(work, 'tiny'), '-cf', tiny, '.']);
  const otherMs = [];
  // warm the page cache for both inputs
  time('cat', [blob, archive]);
  for (let i = 0; i < runs; i++) {
    const out = join(work, `tar-${i}`);
    mkdirSync(out);
    const data = join(work, `data-${i}`);
    const tarFlags = { gzip: ['-z'], zstd: ['--zstd'] }[compress] ?? [];
    const runTar = () => (tarMs.push(time('tar', [...tarFlags, '-xf', blob, '-C', out])), tarCpu.push(cpu.pop()));
    const env = { TVCTL_DATA: data, TVCTL_ROOT: join(work, 'state') };
    // A store in use (here: one tiny image), as for anyone who has run tvctl before: the launcher starts
    // unpacking the layer while Node starts only into an existing store (see native/untar, --prefetch).
    const initStore = (e) =>
      execFileSync(tvctl, ['image', 'import', tiny, 'init:latest'], { env: { ...process.env, ...e } });
    const plainEnv = { TVCTL_DATA: `${data}-np`, TVCTL_ROOT: join(work, 'state'), TVCTL_NO_PREFETCH: '1' };
    initStore(env);
    initStore(plainEnv);
    const runLoad = () => (
      startMs.push(time(tvctl, ['images', '-q'], env)),
      cpu.pop(),
      loadMs.push(time(tvctl, ['image', 'load', '-q', '-i', archive], env)),
      cpu.pop(),
      plainMs.push(time(tvctl, ['image', 'load', '-q', '-i', archive], plainEnv)),
      plainCpu.push(cpu.pop())
    );
    const runOther = () => {
      if (!other) return;
      const e = { TVCTL_DATA: join(work, `other-${i}`), TVCTL_ROOT: join(work, 'other-state') };
      otherMs.push(time(other, ['image', 'load', '-q', '-i', archive], e));
      cpu.pop();
    };
    if (i % 2 === 0) {
      runTar();
      runLoad();
      runOther();
    } else {
      runOther();
      runLoad();
      runTar();
    }
    // Outputs stay until the end. This machine's root fs is ext4 without a journal: there the inode
    // allocator steps over every inode freed in the last minutes (recently_deleted(), up to ~6 min),
    // which slows file creation 3-10x for both sides after any mass deletion (a previous run, tests).
    // For small-file numbers, let ~6 minutes pass after deleting many files (or use --fresh-fs).
  }
  const t = median(tarMs);
  const l = median(loadMs);
  const mbps = (ms) => (layerSize / 1e6 / (ms / 1000)).toFixed(0);
  console.log(
    `GNU tar -x        median ${t.toFixed(0)} ms  (${mbps(t)} MB/s)  runs: ${tarMs.map((x) => x.toFixed(0)).join(' ')}`,
  );
  console.log(
    `tvctl image load  median ${l.toFixed(0)} ms  (${mbps(l)} MB/s)  runs: ${loadMs.map((x) => x.toFixed(0)).join(' ')}`,
  );
  const np = median(plainMs);
  console.log(
    `  without the launcher's head start (TVCTL_NO_PREFETCH=1) median ${np.toFixed(0)} ms  runs: ${plainMs.map((x) => x.toFixed(0)).join(' ')}  = ${(t / np).toFixed(2)}x tar`,
  );
  if (other) {
    const o = median(otherMs);
    console.log(
      `compared: ${other}  median ${o.toFixed(0)} ms  runs: ${otherMs.map((x) => x.toFixed(0)).join(' ')}  = ${(t / o).toFixed(2)}x tar`,
    );
  }
  const st = median(startMs);
  // With the head start, the extractor is not tvctl's child (the launcher forked it before exec'ing Node),
  // so GNU time cannot see its CPU: the CPU figure is the plain load's.
  console.log(
    `CPU (user+sys) median: tar ${median(tarCpu).toFixed(0)} ms, tvctl ${median(plainCpu).toFixed(0)} ms (its own and its extractor's, without the head start)`,
  );
  console.log(
    `tvctl start-up (\`tvctl images\`) median ${st.toFixed(0)} ms; load minus start-up ${(l - st).toFixed(0)} ms = ${(t / Math.max(1, l - st)).toFixed(2)}x tar (for information only)`,
  );
  console.log(
    `speed ratio tvctl/tar = ${(t / l).toFixed(2)}x (goal >= 0.80x)  [tvctl also hashes the layer (diff ID), records a tar-split and registers the image]`,
  );
  // each run's own ratio (tar and tvctl ran next to each other): less sensitive to drift over the runs
  const perRun = tarMs.map((x, i) => x / loadMs[i]);
  console.log(
    `per-run ratios: ${perRun.map((x) => x.toFixed(2)).join(' ')}  median ${median(perRun).toFixed(2)}x; without the head start: ${median(tarMs.map((x, i) => x / plainMs[i])).toFixed(2)}x`,
  );
} finally {
  if (fsImage) {
    const mnt = dirname(work);
    execFileSync('umount', [mnt]);
    rmSync(fsImage, { force: true });
    rmSync(mnt, { recursive: true, force: true });
  } else rmSync(work, { recursive: true, force: true });
}
