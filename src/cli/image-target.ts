import { TvctlError } from '../errors.js';

/** `run` and `vm run` take IMAGE [COMMAND] [ARG...]: without an image there is nothing to start. */
export function requireImage(verb: 'run' | 'vm run', image: string | undefined): string {
  if (image === undefined) {
    throw new TvctlError(
      'BAD_ARGS',
      `"tvctl ${verb}" requires at least 1 argument: tvctl ${verb} [OPTIONS] IMAGE [COMMAND] [ARG...]`,
    );
  }
  return image;
}
