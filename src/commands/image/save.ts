import { Args, Flags } from '@oclif/core';
import { promises as fsp } from 'node:fs';
import { TvctlCommand } from '../../cli/base-command.js';
import { TvctlError } from '../../errors.js';
import { formatRef, parseRef } from '../../images/reference.js';
import { saveImages } from '../../images/save.js';
import { ImageStore } from '../../images/store.js';

export interface ImageSaveResult {
  output: string;
  images: string[];
  bytes: number;
}

export default class ImageSave extends TvctlCommand<ImageSaveResult> {
  static override description = 'write images as an OCI image layout tar (also loadable by docker load, skopeo, umoci)';
  static override strict = false;
  static override args = { image: Args.string({ description: 'image name[:tag] or id', required: true }) };
  static override flags = {
    output: Flags.string({ char: 'o', description: 'output file (default: stdout, if it is not a terminal)' }),
  };

  async run(): Promise<ImageSaveResult> {
    const { argv, flags } = await this.parse(ImageSave);
    const store = new ImageStore(this.roots(flags).data);
    const picked = new Map<string, { img: Awaited<ReturnType<ImageStore['lookup']>>; tags: string[] }>();
    for (const ref of argv as string[]) {
      const img = await store.lookup(ref);
      const entry = picked.get(img.id) ?? { img, tags: [] };
      // a name saves that tag; an id saves all of the image's tags
      let tag: string | undefined;
      try {
        tag = formatRef(parseRef(ref));
      } catch {
        tag = undefined;
      }
      const tags = tag && img.repoTags.includes(tag) ? [tag] : img.repoTags;
      for (const t of tags) if (!entry.tags.includes(t)) entry.tags.push(t);
      picked.set(img.id, entry);
    }
    const images = [...picked.values()];
    if (!flags.output) {
      if (process.stdout.isTTY)
        throw new TvctlError('BAD_USAGE', 'refusing to write an archive to a terminal; use -o FILE or redirect stdout');
      if (this.jsonEnabled()) throw new TvctlError('BAD_USAGE', '--json needs -o FILE');
      const r = await saveImages(store, images, 1);
      return { output: '-', images: images.map((i) => i.img.id), bytes: r.bytes };
    }
    const tmp = `${flags.output}.tmp-${process.pid}`;
    try {
      const r = await saveImages(store, images, tmp);
      await fsp.rename(tmp, flags.output);
      return { output: flags.output, images: images.map((i) => i.img.id), bytes: r.bytes };
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }
}
