import { Args, Flags } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { TvctlError } from '../../errors.js';
import { pickImagesToSave, saveImages, saveImagesToFile } from '../../images/save.js';
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
    const images = await pickImagesToSave(store, argv as string[]);
    const ids = images.map((i) => i.img.id);
    if (flags.output) {
      const r = await saveImagesToFile(store, images, flags.output);
      return { output: flags.output, images: ids, bytes: r.bytes };
    }
    if (process.stdout.isTTY)
      throw new TvctlError('BAD_USAGE', 'refusing to write an archive to a terminal; use -o FILE or redirect stdout');
    if (this.jsonEnabled()) throw new TvctlError('BAD_USAGE', '--json needs -o FILE');
    const r = await saveImages(store, images, 1);
    return { output: '-', images: ids, bytes: r.bytes };
  }
}
