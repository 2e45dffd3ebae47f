/**
 * Small inline-SVG charts for the compare report: a horizontal box plot (every sample drawn, log or linear
 * axis) and a horizontal stacked bar chart. Pure string builders; every chart and series carries data-*
 * attributes so tests (and readers of the DOM) can find them.
 */

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function n(x: number): string {
  return Number.isFinite(x) ? (Math.round(x * 10) / 10).toString() : '0';
}

export interface Scale {
  min: number;
  max: number;
  log: boolean;
  ticks: number[];
  /** value → 0..1 */
  pos(v: number): number;
}

/** "Nice" ticks: 1-2-5 steps on a linear axis, 1-2-5 per decade on a log axis. Pure. */
export function makeScale(values: readonly number[], log: boolean): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = finite.length ? Math.min(...finite) : 1;
  let hi = finite.length ? Math.max(...finite) : 10;
  if (log) {
    lo = Math.pow(10, Math.floor(Math.log10(lo)));
    hi = Math.pow(10, Math.ceil(Math.log10(hi * 1.0001)));
    if (hi <= lo) hi = lo * 10;
    const ticks: number[] = [];
    for (let d = lo; d < hi * 1.0001; d *= 10) for (const m of [1, 2, 5]) if (d * m <= hi * 1.0001) ticks.push(d * m);
    const a = Math.log10(lo);
    const b = Math.log10(hi);
    return { min: lo, max: hi, log, ticks, pos: (v) => (Math.log10(Math.max(v, lo)) - a) / (b - a) };
  }
  lo = 0;
  if (hi <= 0) hi = 1;
  const raw = hi / 5;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  hi = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= hi + step / 2; t += step) ticks.push(t);
  return { min: lo, max: hi, log, ticks, pos: (v) => (v - lo) / (hi - lo) };
}

export interface BoxRow {
  /** series id (data-series) */
  id: string;
  label: string;
  color: string;
  values: number[];
}

export interface ChartOpts {
  /** data-chart */
  chart: string;
  title: string;
  width?: number;
  format: (v: number) => string;
  axisLabel: string;
}

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"';

/** The chart's opening: the svg element (with what tests and readers look for in data-*), its title. */
function chartOpening(o: ChartOpts, W: number, H: number, scaleName: 'log' | 'linear', left: number): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(o.title)}" data-chart="${esc(o.chart)}" data-scale="${scaleName}" ${FONT}>`,
    `<title>${esc(o.title)}</title>`,
    `<text x="${left}" y="24" font-size="15" font-weight="600" fill="#1d2733">${esc(o.title)}</text>`,
  ];
}

/** Grid lines and labels at the scale's ticks, from `gridTop` down, and the axis label under them. */
function axisSvg(
  ticks: readonly number[],
  x: (v: number) => number,
  g: { gridTop: number; H: number; left: number; plotW: number; format: (v: number) => string; label: string },
): string[] {
  const out: string[] = [];
  for (const t of ticks) {
    const tx = n(x(t));
    out.push(`<line x1="${tx}" x2="${tx}" y1="${g.gridTop}" y2="${g.H - 40}" stroke="#e3e8ee" stroke-width="1"/>`);
    out.push(
      `<text x="${tx}" y="${g.H - 24}" font-size="11" fill="#5b6775" text-anchor="middle">${t === 0 ? '0' : esc(g.format(t))}</text>`,
    );
  }
  out.push(
    `<text x="${n(g.left + g.plotW / 2)}" y="${g.H - 6}" font-size="11" fill="#5b6775" text-anchor="middle">${esc(g.label)}</text>`,
  );
  return out;
}

/** A row's group (closed by the caller) and its label left of the plot. */
function rowOpening(r: { id: string; label: string }, left: number, cy: number): string[] {
  return [
    `<g data-series="${esc(r.id)}" data-label="${esc(r.label)}">`,
    `<text x="${left - 12}" y="${n(cy + 4)}" font-size="13" fill="#1d2733" text-anchor="end">${esc(r.label)}</text>`,
  ];
}

function quart(xs: number[]): { q1: number; med: number; q3: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const med = (a: number[]): number => {
    const m = a.length >> 1;
    return a.length % 2 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
  };
  const half = s.length >> 1;
  return {
    q1: med(s.slice(0, s.length % 2 ? half + 1 : half)),
    med: med(s),
    q3: med(s.slice(half)),
    min: s[0]!,
    max: s[s.length - 1]!,
  };
}

/** Horizontal box plot: whiskers min–max, box q1–q3, a median bar, every sample as a dot. */
export function boxPlotSvg(rows: readonly BoxRow[], o: ChartOpts & { log: boolean }): string {
  const W = o.width ?? 900;
  const left = 170;
  const right = 110;
  const top = 44;
  const rowH = 56;
  const H = top + rows.length * rowH + 46;
  const plotW = W - left - right;
  const scale = makeScale(
    rows.flatMap((r) => r.values),
    o.log,
  );
  const x = (v: number): number => left + scale.pos(v) * plotW;
  const parts: string[] = [];
  parts.push(...chartOpening(o, W, H, o.log ? 'log' : 'linear', left));
  parts.push(
    ...axisSvg(scale.ticks, x, {
      gridTop: top - 6,
      H,
      left,
      plotW,
      format: o.format,
      label: `${o.axisLabel}${o.log ? ' (log scale)' : ''}`,
    }),
  );
  rows.forEach((r, i) => {
    const cy = top + i * rowH + rowH / 2;
    parts.push(...rowOpening(r, left, cy));
    if (r.values.length === 0) {
      parts.push(`<text x="${left}" y="${n(cy + 4)}" font-size="12" fill="#8a94a0">no samples</text></g>`);
      return;
    }
    const q = quart(r.values);
    const bh = 22;
    parts.push(
      `<line x1="${n(x(q.min))}" x2="${n(x(q.max))}" y1="${n(cy)}" y2="${n(cy)}" stroke="${r.color}" stroke-width="2"/>`,
    );
    for (const v of [q.min, q.max])
      parts.push(
        `<line x1="${n(x(v))}" x2="${n(x(v))}" y1="${n(cy - 8)}" y2="${n(cy + 8)}" stroke="${r.color}" stroke-width="2"/>`,
      );
    parts.push(
      `<rect class="box" x="${n(x(q.q1))}" y="${n(cy - bh / 2)}" width="${n(Math.max(2, x(q.q3) - x(q.q1)))}" height="${bh}" rx="3" fill="${r.color}" fill-opacity="0.28" stroke="${r.color}" stroke-width="1.5"><title>${esc(`${r.label}: median ${o.format(q.med)}, min ${o.format(q.min)}, max ${o.format(q.max)}`)}</title></rect>`,
    );
    parts.push(
      `<line class="median" x1="${n(x(q.med))}" x2="${n(x(q.med))}" y1="${n(cy - bh / 2 - 3)}" y2="${n(cy + bh / 2 + 3)}" stroke="${r.color}" stroke-width="3.5"/>`,
    );
    for (const v of r.values)
      parts.push(
        `<circle class="sample" cx="${n(x(v))}" cy="${n(cy)}" r="3" fill="#fff" stroke="${r.color}" stroke-width="1.5"><title>${esc(o.format(v))}</title></circle>`,
      );
    parts.push(
      `<text x="${n(W - right + 10)}" y="${n(cy + 4)}" font-size="13" font-weight="600" fill="#1d2733">${esc(o.format(q.med))}</text>`,
    );
    parts.push('</g>');
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface BarPart {
  id: string;
  name: string;
  value: number;
  color: string;
}

export interface BarRow {
  id: string;
  label: string;
  parts: BarPart[];
  /** text after the bar (defaults to the formatted total) */
  note?: string;
}

/** Horizontal (stacked) bars on a linear axis, with a legend when a bar has several parts. */
export function barChartSvg(rows: readonly BarRow[], o: ChartOpts): string {
  const W = o.width ?? 900;
  const left = 170;
  const right = 190;
  const legend = rows.some((r) => r.parts.length > 1);
  const top = legend ? 62 : 44;
  const rowH = 44;
  const H = top + rows.length * rowH + 46;
  const plotW = W - left - right;
  const totals = rows.map((r) => r.parts.reduce((a, p) => a + p.value, 0));
  const scale = makeScale(totals, false);
  const x = (v: number): number => left + scale.pos(v) * plotW;
  const parts: string[] = [];
  parts.push(...chartOpening(o, W, H, 'linear', left));
  if (legend) {
    const seen = new Map<string, BarPart>();
    for (const r of rows) for (const p of r.parts) if (!seen.has(p.id)) seen.set(p.id, p);
    let lx = left;
    for (const p of seen.values()) {
      parts.push(
        `<rect x="${lx}" y="36" width="12" height="12" rx="2" fill="${p.color}"/><text x="${lx + 17}" y="46" font-size="12" fill="#3c4855">${esc(p.name)}</text>`,
      );
      lx += 30 + p.name.length * 7;
    }
  }
  parts.push(...axisSvg(scale.ticks, x, { gridTop: top - 4, H, left, plotW, format: o.format, label: o.axisLabel }));
  rows.forEach((r, i) => {
    const cy = top + i * rowH + rowH / 2;
    parts.push(...rowOpening(r, left, cy));
    let acc = 0;
    for (const p of r.parts) {
      const x0 = x(acc);
      acc += p.value;
      const w = Math.max(p.value > 0 ? 1 : 0, x(acc) - x0);
      parts.push(
        `<rect class="bar" data-part="${esc(p.id)}" x="${n(x0)}" y="${n(cy - 12)}" width="${n(w)}" height="24" fill="${p.color}"><title>${esc(`${r.label} — ${p.name}: ${o.format(p.value)}`)}</title></rect>`,
      );
    }
    parts.push(
      `<text x="${n(x(acc) + 8)}" y="${n(cy + 4)}" font-size="13" font-weight="600" fill="#1d2733">${esc(r.note ?? o.format(totals[i]!))}</text>`,
    );
    parts.push('</g>');
  });
  parts.push('</svg>');
  return parts.join('\n');
}
