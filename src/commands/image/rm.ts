import { Args, Flags } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { containersUsingImage } from '../../images/in-use.js';
import { ImageStore } from '../../images/store.js';

export interface ImageRmResult {
  untagged: string[];
  deleted: string[];
}

export default class ImageRm extends TvctlCommand<ImageRmResult> {
  static override description =
    'remove images (refused while a container uses one); by tag removes that tag only unless it is the last';
  static override aliases = ['rmi'];
  static override strict = false;
  static override args = { image: Args.string({ description: 'image name[:tag] or id', required: true }) };
  static override flags = {
    force: Flags.boolean({ char: 'f', description: 'remove an image id that has several tags' }),
  };

  async run(): Promise<ImageRmResult> {
    const { argv, flags } = await this.parse(ImageRm);
    const roots = this.roots(flags);
    const store = new ImageStore(roots.data);
    const isInUse = containersUsingImage(roots);
    const result: ImageRmResult = { untagged: [], deleted: [] };
    for (const ref of argv as string[]) {
      const r = await store.remove(ref, { force: flags.force, isInUse });
      result.untagged.push(...r.untagged);
      result.deleted.push(...r.deleted);
      if (!this.jsonEnabled()) {
        for (const t of r.untagged) this.log(`Untagged: ${t}`);
        for (const d of r.deleted) this.log(`Deleted: ${d}`);
      }
    }
    return result;
  }
}
