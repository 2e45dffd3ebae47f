import { Args, Flags } from '@oclif/core';
import { TvctlCommand } from '../../cli/base-command.js';
import { GoTemplate } from '../../cli/go-template.js';
import { inspectImage, type ImageInspect } from '../../images/inspect.js';
import { ImageStore } from '../../images/store.js';

export default class ImageInspectCmd extends TvctlCommand<ImageInspect[]> {
  static override description = 'show the details of images as a JSON array (Docker-shaped)';
  static override strict = false;
  static override args = { image: Args.string({ description: 'image name[:tag] or id', required: true }) };
  static override flags = {
    format: Flags.string({ char: 'f', description: "format each object with a Go template, e.g. '{{.Config.Cmd}}'" }),
  };

  async run(): Promise<ImageInspect[]> {
    const { argv, flags } = await this.parse(ImageInspectCmd);
    const store = new ImageStore(this.roots(flags).data);
    const template = flags.format !== undefined ? new GoTemplate(flags.format) : undefined;
    const out: ImageInspect[] = [];
    for (const ref of argv as string[]) out.push(await inspectImage(store, await store.lookup(ref)));
    if (!this.jsonEnabled())
      this.log(template ? out.map((o) => template.execute(o)).join('\n') : JSON.stringify(out, null, 4));
    return out;
  }
}
