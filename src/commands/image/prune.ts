import { Flags } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { decimalBytes } from '../../util/units.js';
import { containersUsingImage } from '../../images/in-use.js';
import { ImageStore } from '../../images/store.js';

export interface ImagePruneResult {
  deleted: string[];
  untagged: string[];
  spaceReclaimed: number;
}

export default class ImagePrune extends TvctlCommand<ImagePruneResult> {
  static override description = 'remove dangling (untagged) images, or with --all every image no container uses';
  static override flags = {
    all: Flags.boolean({ char: 'a', description: 'remove all images not used by a container' }),
    force: Flags.boolean({
      char: 'f',
      description: 'do not ask (tvctl never asks; accepted for Docker compatibility)',
    }),
  };

  async run(): Promise<ImagePruneResult> {
    const { flags } = await this.parse(ImagePrune);
    const roots = this.roots(flags);
    const r = await new ImageStore(roots.data).prune({ all: flags.all, isInUse: containersUsingImage(roots) });
    if (!this.jsonEnabled()) {
      for (const t of r.untagged) this.log(`untagged: ${t}`);
      for (const d of r.deleted) this.log(`deleted: ${d}`);
      this.log(`Total reclaimed space: ${decimalBytes(r.spaceReclaimed)}`);
    }
    return r;
  }
}
