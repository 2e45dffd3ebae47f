import type { LoadProgress } from './load-stage.js';

/** A one-line progress bar (bytes and layers) on a terminal; nothing otherwise. */
export function progressBar(stream: NodeJS.WriteStream, enabled: boolean): LoadProgress & { finish(): void } {
  if (!enabled) return { finish() {} };
  let read = 0;
  let total: number | undefined;
  let layersDone = 0;
  let layersStarted = 0;
  let last = 0;
  let drawn = false;
  const mb = (n: number) => `${(n / 1e6).toFixed(1)}MB`;
  const draw = (force = false) => {
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    const width = 30;
    const frac = total ? Math.min(1, read / total) : 0;
    const bar = total ? '='.repeat(Math.round(frac * width)).padEnd(width, ' ') : '-'.repeat(width);
    stream.write(
      `\r\x1b[2KLoading [${bar}] ${mb(read)}${total ? `/${mb(total)}` : ''}  layers ${layersDone}/${layersStarted}`,
    );
    drawn = true;
  };
  return {
    onBytes(r, t) {
      read = r;
      total = t;
      draw();
    },
    onLayer(d, s) {
      layersDone = d;
      layersStarted = s;
      draw();
    },
    finish() {
      if (drawn) {
        draw(true);
        stream.write('\n');
      }
    },
  };
}
