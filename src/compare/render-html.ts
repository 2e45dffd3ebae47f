/**
 * `--report FILE.html`: one self-contained page (inline CSS and SVG, no scripts, no fonts, no network):
 * summary cards, a box plot of every timing sample, bars for memory, CPU and preparation, the timing table,
 * the isolation table measured in each mode, host facts with the taxonomy sentences of src/host/facts.ts, the method, every raw sample.
 */
import type { CompareResult, ModeResult } from './compare.js';
import { isolationRows, timingRows } from './render-text.js';
import { formatKiB, formatMs, formatRatio } from './stats.js';
import { barChartSvg, boxPlotSvg, esc, type BarRow } from './svg.js';

export const MODE_COLORS: Record<string, string> = {
  container: '#1b9e77',
  kvm: '#d95f02',
  qemu: '#7570b3',
  bochs: '#e7298a',
};
const PART_COLORS = { cli: '#9aa5b1', user: '#4c78a8', sys: '#f58518' };

function color(m: ModeResult): string {
  return MODE_COLORS[m.plan.id] ?? '#555';
}

function table(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  cls: string,
  rowAttr?: (i: number) => string,
): string {
  const head = `<tr>${headers.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = rows
    .map(
      (r, i) =>
        `<tr${rowAttr ? ` ${rowAttr(i)}` : ''}>${r.map((c, j) => (j === 0 ? `<th scope="row">${esc(c)}</th>` : `<td${r.length < headers.length && j === r.length - 1 ? ` colspan="${headers.length - j}"` : ''}>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('\n');
  return `<table class="${cls}"><thead>${head}</thead><tbody>${body}</tbody></table>`;
}

function card(m: ModeResult): string {
  const c = color(m);
  if (m.status !== 'measured' || !m.wallMs) {
    const why = m.status === 'failed' ? `failed: ${m.error ?? ''}` : m.plan.reason.replace(/^unavailable: /, '');
    return `<div class="card off" data-mode="${esc(m.plan.id)}" style="--c:${c}"><div class="k">${esc(m.plan.label)}</div><div class="kind">${esc(m.plan.kind)}</div><div class="big">${m.status === 'failed' ? 'failed' : 'not available'}</div><p>${esc(why)}</p></div>`;
  }
  const ratioText = m.plan.id === 'container' ? 'baseline' : `${formatRatio(m.ratios?.wall)} the container`;
  return `<div class="card" data-mode="${esc(m.plan.id)}" style="--c:${c}"><div class="k">${esc(m.plan.label)}</div><div class="kind">${esc(m.plan.kind)}</div><div class="big">${esc(formatMs(m.wallMs.median))}</div><div class="sub">median start → exit · ${esc(ratioText)}</div><div class="sub">${esc(formatKiB(m.memKiB?.median))} peak RSS · ${esc(formatMs(m.cpuMs?.median))} CPU</div></div>`;
}

export function renderHtml(r: CompareResult): string {
  const measured = r.modes.filter((m) => m.status === 'measured' && m.samples.length > 0);
  const wall = boxPlotSvg(
    measured.map((m) => ({
      id: m.plan.id,
      label: m.plan.label,
      color: color(m),
      values: m.samples.map((s) => s.wallMs),
    })),
    {
      chart: 'wall',
      title: `Start → exit wall time, ${r.runs} runs per mode`,
      format: formatMs,
      axisLabel: 'milliseconds',
      log: true,
    },
  );
  const memRows: BarRow[] = measured.map((m) => ({
    id: m.plan.id,
    label: m.plan.label,
    parts: [
      { id: 'cli', name: 'tvctl CLI process (Node)', value: m.memCliKiB?.median ?? 0, color: PART_COLORS.cli },
      {
        id: 'started',
        name: 'started by tvctl (supervisor + workload, or QEMU with the guest RAM it touched)',
        value: m.memStartedKiB?.median ?? 0,
        color: color(m),
      },
    ],
    note: `${formatKiB(m.memKiB?.median)}${m.ratios?.memory !== undefined && m.plan.id !== 'container' ? ` (${formatRatio(m.ratios.memory)})` : ''}`,
  }));
  // Plotted in MiB so the axis gets round ticks; labels still say the exact figure.
  for (const row of memRows) for (const p of row.parts) p.value /= 1024;
  const mem = barChartSvg(memRows, {
    chart: 'memory',
    title: 'Host memory: sum of peak RSS of the process tree (median run)',
    format: (v) => formatKiB(v * 1024),
    axisLabel: 'resident memory, MiB',
  });
  const cpuRows: BarRow[] = measured.map((m) => ({
    id: m.plan.id,
    label: m.plan.label,
    parts: [
      { id: 'user', name: 'user', value: m.cpuUserMs?.median ?? 0, color: PART_COLORS.user },
      { id: 'sys', name: 'system', value: m.cpuSysMs?.median ?? 0, color: PART_COLORS.sys },
    ],
    note: `${formatMs(m.cpuMs?.median)}${m.ratios?.cpu !== undefined && m.plan.id !== 'container' ? ` (${formatRatio(m.ratios.cpu)})` : ''}`,
  }));
  const cpu = barChartSvg(cpuRows, {
    chart: 'cpu',
    title: 'CPU time of the whole process tree (median run)',
    format: formatMs,
    axisLabel: 'CPU milliseconds (user + system)',
  });
  const prepModes = measured.filter((m) => m.prep);
  const prep = prepModes.length
    ? barChartSvg(
        prepModes.map((m) => ({
          id: m.plan.id,
          label: m.plan.label,
          parts: [{ id: 'prep', name: m.prep!.what, value: m.prep!.ms, color: color(m) }],
          note: `${formatMs(m.prep!.ms)} · ${m.prep!.what}`,
        })),
        {
          chart: 'prep',
          title: 'One-time preparation before the first start',
          format: formatMs,
          axisLabel: 'milliseconds',
        },
      )
    : '';
  const iso = isolationRows(r);
  const isoTable =
    iso.headers.length > 2
      ? table(iso.headers, iso.rows, 'iso', () => 'data-row="isolation"')
      : '<p>No mode was probed.</p>';
  // The terminal's headers, shortened to fit the page.
  const timing = table(
    ['mode', 'median', 'p95', 'min', 'max', '× container', 'prep (once)', 'peak RSS', '×', 'CPU u+s', '×', 'output'],
    timingRows(r),
    'timing',
  );
  const outputNote =
    r.outputIdentical === undefined
      ? 'Only one mode ran, so there was nothing to compare the output with.'
      : r.outputIdentical
        ? `Every mode printed the same bytes (sha256 ${esc(measured[0]?.output?.sha256.slice(0, 16) ?? '')}…) and exited ${measured[0]?.output?.exitCode ?? '?'}.`
        : 'The output DIFFERS between modes: see the raw samples below.';
  const h = r.host;
  const hostRows: string[][] = [
    ['kernel', `${h.kernel.release} (${h.kernel.arch})`],
    ['CPUs / memory', `${h.cpus} / ${formatKiB(h.memTotalKiB)}`],
    [
      'cgroups',
      `${h.cgroups.mode ?? 'none'}${h.cgroups.v1Controllers.length ? ` · v1: ${h.cgroups.v1Controllers.join(', ')}` : ''}${h.cgroups.mode && h.cgroups.mode !== 'v1' ? ` · v2: ${h.cgroups.v2Controllers.join(', ') || 'none'}` : ''}`,
    ],
    ['namespaces', h.namespaces.join(', ')],
    ['overlayfs', h.overlayfs ? 'yes' : 'no'],
    ['/dev/kvm', `${h.kvm.kind}: ${h.kvm.meaning}`],
    ['QEMU', h.qemu.binary ?? 'not installed'],
    [
      'guest kernel',
      h.guestKernel.installed ? `${h.guestKernel.version ?? ''} ${h.guestKernel.path}` : 'not installed',
    ],
    ...h.engines.map((e) => [
      `engine ${e.engine}`,
      `${e.usable ? (e.fullLinux ? 'usable' : e.needs === 'guest-kernel' ? 'needs a guest kernel' : 'small guests only') : 'unusable'}${e.accel ? ` (-accel ${e.accel})` : ''}: ${e.why}`,
    ]),
  ];
  const rawRows: string[][] = [];
  for (const m of r.modes) {
    const all = [
      ...(m.warmup ? [{ s: m.warmup, tag: 'warm-up' }] : []),
      ...m.samples.map((s, i) => ({ s, tag: `run ${i + 1}` })),
    ];
    for (const { s, tag } of all) {
      rawRows.push([
        m.plan.label,
        tag,
        formatMs(s.wallMs),
        `${formatMs(s.cpuUserMs)} + ${formatMs(s.cpuSysMs)}`,
        `${formatKiB(s.memTotalKiB)} (${s.processes.map((p) => `${p.name} ${formatKiB(p.hwmKiB)}`).join(', ')})`,
        String(s.exitCode),
        JSON.stringify(s.stdout.length > 80 ? `${s.stdout.slice(0, 80)}…` : s.stdout),
      ]);
    }
  }
  const method = Object.entries(r.method)
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`)
    .join('\n');
  const argvList = r.modes
    .filter((m) => m.argv)
    .map((m) => `<li><b>${esc(m.plan.label)}</b>: <code>tvctl ${esc(m.argv!.join(' '))}</code></li>`)
    .join('');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tvctl compare: ${esc(r.image)} -- ${esc(r.command.join(' '))}</title>
<style>
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f9; color: #1d2733; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 60px; }
header h1 { font-size: 26px; margin: 0 0 4px; letter-spacing: -0.01em; }
header .cmd { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; background: #1d2733; color: #e8f0f8; padding: 10px 14px; border-radius: 8px; display: block; margin: 10px 0; overflow-x: auto; }
header .meta { color: #5b6775; font-size: 13px; }
section { background: #fff; border-radius: 12px; box-shadow: 0 1px 3px rgba(20,30,45,.08), 0 1px 1px rgba(20,30,45,.04); padding: 18px 22px; margin: 18px 0; }
h2 { font-size: 17px; margin: 0 0 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(230px, 1fr)); gap: 14px; margin: 18px 0; }
.card { background: #fff; border-radius: 12px; padding: 14px 16px; border-top: 5px solid var(--c); box-shadow: 0 1px 3px rgba(20,30,45,.08); }
.card.off { opacity: .75; border-top-style: dashed; }
.card .k { font-weight: 650; }
.card .kind { color: #5b6775; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .big { font-size: 28px; font-weight: 700; color: var(--c); margin: 6px 0 2px; }
.card .sub { color: #3c4855; font-size: 13px; }
.card p { font-size: 13px; color: #3c4855; margin: 6px 0 0; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #e6eaef; vertical-align: top; }
thead th { background: #f0f3f7; font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: #3c4855; }
tbody th { font-weight: 600; white-space: nowrap; }
.timing { font-size: 12.5px; }
.timing td, .timing thead th { white-space: nowrap; padding: 6px 7px; }
.timing td[colspan] { white-space: normal; color: #5b6775; }
.scroll { overflow-x: auto; }
.taxonomy li { margin: 6px 0; }
dl { display: grid; grid-template-columns: 110px 1fr; gap: 4px 14px; font-size: 13px; margin: 0; }
dt { font-weight: 600; }
dd { margin: 0; color: #3c4855; }
code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, monospace; font-size: 12.5px; }
.note { font-size: 13px; color: #3c4855; }
.ok { color: #137a4b; font-weight: 600; } .bad { color: #b42318; font-weight: 600; }
details summary { cursor: pointer; font-weight: 600; }
</style>
</head>
<body>
<main>
<header>
<h1>Container vs virtual machine, same image, same command</h1>
<code class="cmd">tvctl compare --runs ${r.runs} ${esc(r.image)} -- ${esc(r.command.join(' '))}</code>
<div class="meta">${esc(r.date.replace('T', ' ').slice(0, 19))} UTC · host kernel ${esc(h.kernel.release)} · ${h.cpus} CPUs · /dev/kvm: ${esc(h.kvm.kind)} · ${r.runs} measured runs per mode after ${r.warmups} warm-up</div>
</header>
<div class="cards">${r.modes.map(card).join('\n')}</div>
<section><h2>Timings</h2>${wall}<p class="note">Each dot is one run; the box spans the middle half of the runs, the thick bar is the median, whiskers reach min and max.</p></section>
<section><h2>Cost on the host</h2>${mem}${cpu}${prep}</section>
<section><h2>Summary table</h2><div class="scroll">${timing}</div><p class="note">Output check: <span class="${r.outputIdentical === false ? 'bad' : r.outputIdentical ? 'ok' : ''}">${outputNote}</span></p></section>
<section><h2>Isolation, measured inside each mode</h2><div class="scroll">${isoTable}</div><p class="note">Facts printed by a probe (<code>uname -r</code>, <code>/proc/1/comm</code>, <code>nproc</code>, <code>/proc/meminfo</code>, <code>/proc/sys/kernel/random/boot_id</code>) run as the workload in each mode; the host column is read directly. A mode shares the host kernel when the kernel release and the boot id are the same.</p></section>
<section><h2>This host</h2><ul class="taxonomy">${h.explanation.map((s) => `<li>${esc(s)}</li>`).join('')}</ul><div class="scroll">${table(['fact', 'value'], hostRows, 'host')}</div></section>
<section><h2>Method</h2><dl>${method}</dl><ul class="note">${argvList}</ul></section>
<section><details><summary>Every raw sample (${rawRows.length})</summary><div class="scroll">${table(['mode', 'run', 'wall', 'CPU user + sys', 'peak RSS (per process)', 'exit', 'stdout'], rawRows, 'raw')}</div></details></section>
</main>
</body>
</html>
`;
}
