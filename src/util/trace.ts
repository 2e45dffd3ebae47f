/** Phase timings on stderr when TVCTL_TRACE=1: where a command's milliseconds go. */
const enabled = (): boolean => process.env['TVCTL_TRACE'] === '1';
let last = 0;

export function trace(phase: string): void {
  if (!enabled()) return;
  const now = performance.now();
  process.stderr.write(
    `[trace] ${now.toFixed(1).padStart(7)} ms  +${(now - (last || now)).toFixed(1).padStart(6)}  ${phase}\n`,
  );
  last = now;
}
