import { Flags } from '@oclif/core';
import { isatty } from 'node:tty';
import { TvctlCommand } from '../../cli/base-command.js';
import { TvctlError } from '../../errors.js';
import { loadImages, tagLoadedImage, type LoadedImage } from '../../images/load.js';
import { stdinInput } from '../../images/load-input.js';
import { progressBar } from '../../images/progress.js';
import { shortImageId } from '../../images/reference.js';
import { ImageStore } from '../../images/store.js';

export default class ImageLoad extends TvctlCommand<LoadedImage[]> {
  static override description =
    'load images from an OCI image layout (directory or tar) or a docker-save archive (optionally gzip/zstd), from a file or stdin';
  static override examples = [
    '<%= config.bin %> image load -i busybox.tar',
    'docker save busybox | <%= config.bin %> image load',
    '<%= config.bin %> image load -i ./oci-dir --tag myimg:1',
  ];
  static override flags = {
    input: Flags.string({ char: 'i', description: 'archive file or OCI layout directory (default: stdin)' }),
    quiet: Flags.boolean({ char: 'q', description: 'no progress output' }),
    tag: Flags.string({
      char: 't',
      description: 'also tag the loaded image NAME[:TAG] (archive must hold exactly one image)',
    }),
  };

  async run(): Promise<LoadedImage[]> {
    const { flags } = await this.parse(ImageLoad);
    const store = new ImageStore(this.roots(flags).data);
    const fromStdin = flags.input === undefined || flags.input === '-';
    // (not process.stdin.isTTY: making process.stdin would set a pipe non-blocking and start reading it)
    if (fromStdin && isatty(0)) throw new TvctlError('BAD_USAGE', 'no input: give -i FILE or pipe an archive to stdin');
    const bar = progressBar(process.stderr, !flags.quiet && !this.jsonEnabled() && process.stderr.isTTY === true);
    let loaded: LoadedImage[];
    try {
      loaded = await loadImages(store, fromStdin ? stdinInput() : { file: flags.input! }, bar);
    } finally {
      bar.finish();
    }
    if (flags.tag) await tagLoadedImage(store, loaded, flags.tag);
    if (!this.jsonEnabled()) {
      for (const l of loaded) {
        if (l.repoTags.length === 0) this.log(`Loaded image ID: ${l.id}`);
        for (const t of l.repoTags) this.log(`Loaded image: ${t} (${shortImageId(l.id)})`);
      }
    }
    return loaded;
  }
}
