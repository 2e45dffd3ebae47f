import { run, flush, handle } from '@oclif/core';

/** CLI entry (bundled to dist/main.mjs by scripts/bundle.mjs). */
export async function main(argv: string[]): Promise<void> {
  try {
    await run(argv, import.meta.url);
    await flush();
  } catch (err) {
    await handle(err as Error);
  }
}
