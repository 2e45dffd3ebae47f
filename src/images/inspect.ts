import type { ImageStore, StoredImage } from './store.js';

/** The Docker-shaped `image inspect` object. */
export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  Author: string;
  Config: Record<string, unknown>;
  Architecture: string;
  Os: string;
  Size: number;
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
  // tvctl extras
  ManifestDigest: string;
  LayerDirs: string[];
}

export async function inspectImage(store: ImageStore, img: StoredImage): Promise<ImageInspect> {
  const c = await store.readConfig(img);
  const cc = c.config ?? {};
  return {
    Id: img.id,
    RepoTags: img.repoTags,
    RepoDigests: [],
    Parent: '',
    Comment: c.history?.at(-1)?.comment ?? '',
    Created: c.created ?? img.created,
    Author: c.author ?? '',
    Config: {
      User: cc.User ?? '',
      ExposedPorts: cc.ExposedPorts ?? null,
      Env: cc.Env ?? null,
      Entrypoint: cc.Entrypoint ?? null,
      Cmd: cc.Cmd ?? null,
      Volumes: cc.Volumes ?? null,
      WorkingDir: cc.WorkingDir ?? '',
      Labels: cc.Labels ?? null,
      ...(cc.StopSignal ? { StopSignal: cc.StopSignal } : {}),
    },
    Architecture: c.architecture ?? 'amd64',
    Os: c.os ?? 'linux',
    Size: img.size,
    RootFS: { Type: 'layers', Layers: img.diffIds },
    Metadata: { LastTagTime: img.loaded },
    ManifestDigest: img.manifestDigest,
    LayerDirs: img.diffIds.map((d) => store.layerFsDir(d)),
  };
}
