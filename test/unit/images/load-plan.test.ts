import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { planImages, type ArchiveEntry, type PlanContext } from '../../../src/images/load-plan.js';
import { MEDIA, type OciDescriptor } from '../../../src/images/oci.js';

/** An archive in memory: JSON blobs with their data, layers as bare entries (only their digest counts). */
class Archive implements PlanContext {
  readonly files = new Map<string, ArchiveEntry>();
  platform?: { os: string; architecture: string };

  get(path: string): ArchiveEntry | undefined {
    return this.files.get(path);
  }

  put(path: string, content: unknown): ArchiveEntry {
    const data = Buffer.from(typeof content === 'string' ? content : JSON.stringify(content));
    const f = { path, size: data.length, digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, data };
    this.files.set(path, f);
    return f;
  }

  /** a JSON blob under blobs/sha256/, and its descriptor */
  blob(mediaType: string, content: unknown, extra: Partial<OciDescriptor> = {}): OciDescriptor {
    const data = Buffer.from(JSON.stringify(content));
    const hex = createHash('sha256').update(data).digest('hex');
    const f = this.put(`blobs/sha256/${hex}`, content);
    return { mediaType, digest: f.digest, size: f.size, ...extra };
  }

  /** a layer blob (not in memory, as a real one) */
  layer(seed: string): OciDescriptor {
    const hex = createHash('sha256').update(seed).digest('hex');
    this.files.set(`blobs/sha256/${hex}`, { path: `blobs/sha256/${hex}`, size: 1024, digest: `sha256:${hex}` });
    return { mediaType: MEDIA.ociLayer, digest: `sha256:${hex}`, size: 1024 };
  }

  /** an image manifest with one layer, for `arch` */
  image(
    arch: string,
    opts: { created?: string; layerSeed?: string } = {},
  ): { manifest: OciDescriptor; diffId: string } {
    const layer = this.layer(opts.layerSeed ?? `layer-${arch}`);
    const config = this.blob(MEDIA.ociConfig, {
      architecture: arch,
      os: 'linux',
      created: opts.created ?? '2024-01-01T00:00:00Z',
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    });
    const manifest = this.blob(MEDIA.ociManifest, { schemaVersion: 2, config, layers: [layer] });
    return { manifest, diffId: layer.digest };
  }

  ociLayout(manifests: OciDescriptor[]): this {
    this.put('oci-layout', { imageLayoutVersion: '1.0.0' });
    this.put('index.json', { schemaVersion: 2, manifests });
    return this;
  }
}

const badArchive = (message: RegExp | string) =>
  expect.objectContaining({
    code: 'BAD_ARCHIVE',
    message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message),
  });
const amd64 = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };

describe('planImages: OCI image layout', () => {
  it('picks our platform from a multi-platform index, looking into the nested index', () => {
    const a = new Archive();
    const x86 = a.image('amd64');
    const arm = a.image('arm64');
    const list = a.blob(MEDIA.ociIndex, {
      schemaVersion: 2,
      manifests: [
        { ...arm.manifest, platform: arm64 },
        { ...x86.manifest, platform: amd64 },
      ],
    });
    a.ociLayout([{ ...list, annotations: { 'io.containerd.image.name': 'docker.io/library/busybox:1.36' } }]);
    const [plan, ...more] = planImages(a);
    expect(more).toEqual([]);
    expect(plan!.manifest!.file.digest).toBe(x86.manifest.digest);
    expect(plan!.diffIds).toEqual([x86.diffId]);
    expect(plan!.layerFiles.map((f) => f.digest)).toEqual([x86.diffId]);
    expect(plan!.tags).toEqual(['busybox:1.36']);
    expect(plan!.created).toBe('2024-01-01T00:00:00Z');

    a.platform = arm64;
    expect(planImages(a)[0]!.manifest!.file.digest).toBe(arm.manifest.digest);
  });

  it('prefers an explicit platform match over a descriptor without one', () => {
    const a = new Archive();
    const bare = a.image('amd64', { layerSeed: 'bare' });
    const explicit = a.image('amd64', { layerSeed: 'explicit', created: '2025-01-01T00:00:00Z' });
    a.ociLayout([bare.manifest, { ...explicit.manifest, platform: amd64 }]);
    expect(planImages(a).map((p) => p.manifest!.file.digest)).toEqual([explicit.manifest.digest]);
  });

  it('says so when no image is for our platform', () => {
    const a = new Archive();
    a.ociLayout([{ ...a.image('arm64').manifest, platform: arm64 }]);
    expect(() => planImages(a)).toThrow(badArchive('the archive holds no image for linux/amd64'));
  });

  it('tags from names (a bare ref.name is no tag), and from the manifest.json docker ≥ 25 writes beside', () => {
    const a = new Archive();
    const one = a.image('amd64', { layerSeed: 'one' });
    const two = a.image('amd64', { layerSeed: 'two' });
    a.ociLayout([
      { ...one.manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } },
      { ...two.manifest, annotations: { 'io.containerd.image.name': 'example.com:5000/team/app:2' } },
      { ...two.manifest, annotations: { 'io.containerd.image.name': 'app:two' } },
    ]);
    const configOf = (m: OciDescriptor) =>
      (JSON.parse(a.get(`blobs/sha256/${m.digest.slice(7)}`)!.data!.toString()) as { config: OciDescriptor }).config;
    a.put('manifest.json', [
      { Config: `blobs/sha256/${configOf(one.manifest).digest.slice(7)}`, RepoTags: ['docker.io/one:1'], Layers: [] },
    ]);
    const plans = planImages(a);
    expect(plans.map((p) => p.tags)).toEqual([['one:1'], ['example.com:5000/team/app:2', 'app:two']]);
  });

  it('reports missing blobs, wrong sizes and unknown media types', () => {
    const missingLayer = new Archive();
    const img = missingLayer.image('amd64');
    missingLayer.files.delete(`blobs/sha256/${img.diffId.slice(7)}`);
    missingLayer.ociLayout([img.manifest]);
    expect(() => planImages(missingLayer)).toThrow(badArchive(`layer ${img.diffId} is missing from the archive`));

    const wrongSize = new Archive();
    const m = wrongSize.image('amd64').manifest;
    wrongSize.ociLayout([{ ...m, size: m.size + 1 }]);
    expect(() => planImages(wrongSize)).toThrow(
      badArchive(`has size ${m.size}, but the descriptor says ${m.size + 1}`),
    );

    const noDigest = new Archive().ociLayout([{ mediaType: MEDIA.ociManifest, digest: 'md5:x', size: 1 }]);
    expect(() => planImages(noDigest)).toThrow(badArchive('manifest has a missing or unsupported digest (md5:x)'));

    const oddType = new Archive();
    oddType.ociLayout([{ ...oddType.image('amd64').manifest, mediaType: 'application/x-helm' }]);
    expect(() => planImages(oddType)).toThrow(badArchive('unknown manifest media type "application/x-helm"'));
  });

  it('checks the config against the manifest: one diff ID per layer, our os', () => {
    const a = new Archive();
    const layers = [a.layer('a'), a.layer('b')];
    const config = a.blob(MEDIA.ociConfig, { os: 'linux', rootfs: { type: 'layers', diff_ids: [layers[0]!.digest] } });
    a.ociLayout([a.blob(MEDIA.ociManifest, { schemaVersion: 2, config, layers })]);
    expect(() => planImages(a)).toThrow(badArchive('image config lists 1 diff IDs for 2 layers'));

    const w = new Archive();
    const wl = w.layer('w');
    const wc = w.blob(MEDIA.ociConfig, { os: 'windows', rootfs: { type: 'layers', diff_ids: [wl.digest] } });
    w.ociLayout([w.blob(MEDIA.ociManifest, { schemaVersion: 2, config: wc, layers: [wl] })]);
    expect(() => planImages(w)).toThrow(badArchive('image is for os "windows", not linux'));
  });

  it('reports JSON it cannot read, naming the file', () => {
    const a = new Archive();
    a.put('oci-layout', { imageLayoutVersion: '1.0.0' });
    a.put('index.json', '{"manifests": [');
    expect(() => planImages(a)).toThrow(badArchive(/^index\.json \(index\.json\) is not valid JSON: /));

    const big = new Archive();
    big.ociLayout([]);
    big.files.set('index.json', { path: 'index.json', size: 5 << 20, digest: 'sha256:0' }); // not kept in memory
    expect(() => planImages(big)).toThrow(badArchive('index.json (index.json) is not valid JSON: too large'));

    const noVersion = new Archive();
    noVersion.ociLayout([]);
    noVersion.put('oci-layout', {});
    expect(() => planImages(noVersion)).toThrow(badArchive('oci-layout has no imageLayoutVersion'));
  });
});

describe('planImages: docker-save manifest.json', () => {
  /** a legacy docker-save image: <id>.json config and <dir>/layer.tar */
  const dockerImage = (a: Archive, name: string, tags: string[] | null) => {
    const layerPath = `${name}/layer.tar`;
    const layer = a.layer(name);
    a.files.set(layerPath, { path: layerPath, size: 1024, digest: layer.digest });
    const data = Buffer.from(
      JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [layer.digest] } }),
    );
    const hex = createHash('sha256').update(data).digest('hex');
    a.files.set(`${hex}.json`, { path: `${hex}.json`, size: data.length, digest: `sha256:${hex}`, data });
    return { Config: `${hex}.json`, RepoTags: tags, Layers: [layerPath] };
  };

  it('one plan per entry, with every tag normalized, and no manifest (load.ts writes one)', () => {
    const a = new Archive();
    const entries = [
      dockerImage(a, 'one', ['docker.io/library/busybox:latest', 'busybox:1']),
      dockerImage(a, 'two', ['registry.local/app:7']),
      dockerImage(a, 'three', null),
    ];
    a.put('manifest.json', entries);
    const plans = planImages(a);
    expect(plans.map((p) => p.tags)).toEqual([['busybox:latest', 'busybox:1'], ['registry.local/app:7'], []]);
    expect(plans.map((p) => p.manifest)).toEqual([undefined, undefined, undefined]);
    expect(plans[1]!.layerFiles.map((f) => f.path)).toEqual(['two/layer.tar']);
    expect(plans[1]!.created).toBe(new Date(0).toISOString());
  });

  it('reports a missing config or layer, a config that is not what its name says, an invalid tag', () => {
    const noLayer = new Archive();
    const e = dockerImage(noLayer, 'x', []);
    noLayer.files.delete('x/layer.tar');
    noLayer.put('manifest.json', [e]);
    expect(() => planImages(noLayer)).toThrow(badArchive('layer x/layer.tar named in manifest.json is missing'));

    const noConfig = new Archive();
    noConfig.put('manifest.json', [{ ...dockerImage(noConfig, 'x', []), Config: `${'0'.repeat(64)}.json` }]);
    expect(() => planImages(noConfig)).toThrow(badArchive(/^config 0+\.json named in manifest.json is missing$/));

    const renamed = new Archive();
    const r = dockerImage(renamed, 'x', []);
    renamed.files.set(`${'1'.repeat(64)}.json`, { ...renamed.get(r.Config)!, path: `${'1'.repeat(64)}.json` });
    renamed.put('manifest.json', [{ ...r, Config: `${'1'.repeat(64)}.json` }]);
    expect(() => planImages(renamed)).toThrow(badArchive('does not match its digest'));

    const badTag = new Archive();
    badTag.put('manifest.json', [dockerImage(badTag, 'x', ['Not A Tag'])]);
    expect(() => planImages(badTag)).toThrow(badArchive('manifest.json has an invalid tag "Not A Tag"'));

    const notList = new Archive();
    notList.put('manifest.json', { Config: 'x' });
    expect(() => planImages(notList)).toThrow(badArchive('manifest.json is not a list'));
  });
});

describe('planImages: neither layout', () => {
  it('names what it expected, and the old docker format it does not take', () => {
    const a = new Archive();
    a.put('hello.txt', 'hi');
    expect(() => planImages(a)).toThrow(badArchive(/^input is neither an OCI image layout/));
    a.put('repositories', {});
    expect(() => planImages(a)).toThrow(badArchive(/pre-1\.10 docker-save archive/));
  });
});
