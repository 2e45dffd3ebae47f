/**
 * Docker's human-readable units (its go-units package), in one place: every table and status line that shows a
 * duration, an age or a size uses these, so that tvctl's output reads like Docker's to the letter.
 */

/** go-units HumanDuration: "Less than a second", "1 second", "5 seconds", "About a minute", …, "3 years". */
export function humanDuration(ms: number): string {
  const d = Math.max(0, ms);
  const seconds = Math.floor(d / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(d / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.floor(d / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(d / 3_600_000 / 24 / 365)} years`;
}

/** Docker's CREATED column: `humanDuration(now - t) + " ago"`; "N/A" when there is no time to show. */
export function humanAgo(iso: string | undefined, now = Date.now()): string {
  const t = iso === undefined ? NaN : Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0) return 'N/A';
  return `${humanDuration(now - t)} ago`;
}

/** C's %.Ng: N significant digits, trailing zeros dropped. */
function significant(n: number, digits: number): string {
  return String(Number(n.toPrecision(digits)));
}

function scaled(bytes: number, base: number, units: readonly string[], digits: number): string {
  let v = bytes;
  let i = 0;
  while (v >= base && i < units.length - 1) {
    v /= base;
    i++;
  }
  return `${significant(v, digits)}${units[i]}`;
}

/** go-units BytesSize ("%.4g", base 1024): memory columns, e.g. 1.953MiB, 32MiB. */
export function binaryBytes(bytes: number): string {
  return scaled(bytes, 1024, ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'], 4);
}

/** go-units HumanSizeWithPrecision(3) (base 1000): image sizes and I/O columns, e.g. 1.98MB, 648B. */
export function decimalBytes(bytes: number): string {
  return scaled(bytes, 1000, ['B', 'kB', 'MB', 'GB', 'TB', 'PB'], 3);
}
