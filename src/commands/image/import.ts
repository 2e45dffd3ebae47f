import { Args, Flags } from '@oclif/core';
import { isatty } from 'node:tty';
import { TvctlCommand } from '../../cli/base-command.js';
import { TvctlError } from '../../errors.js';
import { stdinAsFile, stdinIsPipe } from '../../images/file-source.js';
import { ImageStore, type ImageRecord } from '../../images/store.js';

export default class ImageImport extends TvctlCommand<ImageRecord> {
  static override description =
    'import a root file system tarball (tar, tar.gz or tar.zst) as a one-layer image, like docker import';
  static override examples = [
    '<%= config.bin %> image import build/demo-rootfs.tar demo',
    '<%= config.bin %> image import rootfs.tar.gz my/app:1.0',
    'zstd -dc rootfs.tar.zst | <%= config.bin %> image import - my/app:1.0',
  ];
  static override args = {
    file: Args.string({ description: 'root file system tar (plain, gzip or zstd); - for stdin', required: true }),
    name: Args.string({ description: 'NAME[:TAG] for the image (tag defaults to latest)', required: true }),
  };
  static override flags = {
    message: Flags.string({ char: 'm', description: 'history comment for the layer' }),
  };

  async run(): Promise<ImageRecord> {
    const { args, flags } = await this.parse(ImageImport);
    const store = new ImageStore(this.roots(flags).data);
    let input: string | AsyncIterable<Buffer> | { pipeFd: number } = args.file;
    if (args.file === '-') {
      // (not process.stdin.isTTY: making process.stdin would set a pipe non-blocking and start reading it)
      if (isatty(0))
        throw new TvctlError('BAD_USAGE', 'no input: give FILE or pipe a root file system tarball to stdin');
      // a file on stdin is read in place, like FILE; a pipe by the extractor itself (when not compressed)
      input = stdinAsFile() ?? (stdinIsPipe() ? { pipeFd: 0 } : (process.stdin as AsyncIterable<Buffer>));
    }
    const rec = await store.importRootfs(
      input,
      args.name,
      flags.message !== undefined ? { message: flags.message } : {},
    );
    if (!this.jsonEnabled()) this.log(rec.id);
    return rec;
  }
}
