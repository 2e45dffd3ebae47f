import { Args } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { ImageStore, type ImageRecord } from '../../images/store.js';

export default class ImageTag extends TvctlCommand<ImageRecord> {
  static override description = 'give an image another name[:tag]';
  static override args = {
    source: Args.string({ description: 'existing image name[:tag] or id', required: true }),
    target: Args.string({ description: 'new NAME[:TAG]', required: true }),
  };

  async run(): Promise<ImageRecord> {
    const { args, flags } = await this.parse(ImageTag);
    return new ImageStore(this.roots(flags).data).tag(args.source, args.target);
  }
}
