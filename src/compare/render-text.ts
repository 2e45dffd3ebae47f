/** The terminal view of a compare: a timing/cost table with ratios to the container, and the isolation table. Pure. */
import { formatTable } from '../cli/table.js';
import type { CompareResult, ModeResult } from './compare.js';
import { PHASE_HEADERS, WORKLOAD_HEADERS, phaseRows, workloadRows } from './phase-charts.js';
import { formatKiB, formatMs, formatRatio } from './stats.js';

export const TIMING_HEADERS = [
  'MODE',
  'WALL MEDIAN',
  'P95',
  'MIN',
  'MAX',
  'VS CONTAINER',
  'PREP (ONCE)',
  'PEAK RSS',
  'VS CONTAINER',
  'CPU U+S',
  'VS CONTAINER',
  'OUTPUT',
] as const;

function outputCell(m: ModeResult, r: CompareResult): string {
  if (!m.output) return '-';
  if (r.workload)
    return m.workload ? `ns/op ${m.output.exitCode === 0 ? 'ok' : `exit ${m.output.exitCode}`}` : 'NO WORKLOAD LINE';
  const parts: string[] = [];
  parts.push(r.outputIdentical === undefined ? 'ok' : r.outputIdentical ? 'identical' : 'DIFFERS');
  if (!m.output.consistent) parts.push('varies between runs');
  if (m.output.exitCode !== 0) parts.push(`exit ${m.output.exitCode}`);
  return parts.join(', ');
}

export function timingRows(r: CompareResult): string[][] {
  return r.modes.map((m) => {
    if (m.status !== 'measured' || !m.wallMs) {
      const why = m.status === 'failed' ? `failed: ${m.error ?? 'unknown'}` : m.plan.reason;
      return [m.plan.label, why];
    }
    return [
      m.plan.label,
      formatMs(m.wallMs.median),
      formatMs(m.wallMs.p95),
      formatMs(m.wallMs.min),
      formatMs(m.wallMs.max),
      formatRatio(m.ratios?.wall),
      m.prep ? `${formatMs(m.prep.ms)} ${m.prep.what}` : m.prepError ? 'failed' : '-',
      formatKiB(m.memKiB?.median),
      formatRatio(m.ratios?.memory),
      formatMs(m.cpuMs?.median),
      formatRatio(m.ratios?.cpu),
      outputCell(m, r),
    ];
  });
}

function yesNo(v: boolean | undefined): string {
  return v === undefined ? '?' : v ? 'yes' : 'no';
}

/** Rows of the isolation table: one per fact, a column for the host and one per probed mode. */
export function isolationRows(r: CompareResult): { headers: string[]; rows: string[][] } {
  const probed = r.modes.filter((m) => m.isolation);
  const h = r.hostProbe;
  const headers = ['FACT', 'HOST', ...probed.map((m) => m.plan.label.toUpperCase())];
  const col = (f: (m: ModeResult) => string): string[] => probed.map(f);
  const iso = (m: ModeResult) => m.isolation!;
  const rows: string[][] = [
    ['kernel (uname -r)', h.kernelRelease ?? '?', ...col((m) => iso(m).kernelRelease ?? '?')],
    ['PID 1 (/proc/1/comm)', h.pid1 ?? '?', ...col((m) => iso(m).pid1 ?? '?')],
    ['visible CPUs (nproc)', String(h.cpus ?? '?'), ...col((m) => String(iso(m).cpus ?? '?'))],
    ['MemTotal', formatKiB(h.memTotalKiB), ...col((m) => formatKiB(iso(m).memTotalKiB))],
    ['boot id', (h.bootId ?? '?').slice(0, 8), ...col((m) => (iso(m).bootId ?? '?').slice(0, 8))],
    ['shares host kernel', '-', ...col((m) => yesNo(iso(m).sharesHostKernel))],
    ['syscall path', 'host kernel', ...col((m) => iso(m).syscallPathText)],
  ];
  return { headers, rows };
}

export function renderText(r: CompareResult): string {
  const out: string[] = [];
  out.push(
    `tvctl compare ${r.workload ? `--workload ${r.workload.preset} --iterations ${r.workload.iterations} ${r.image}` : `${r.image} -- ${r.command.join(' ')}`}   (${r.runs} runs per mode after ${r.warmups} warm-up; ${r.date.slice(0, 16).replace('T', ' ')} UTC)`,
  );
  out.push(`host: ${r.host.kernel.release}, ${r.host.cpus} CPUs, /dev/kvm: ${r.host.kvm.kind}`);
  out.push('');
  const measured = timingRows(r).filter((row) => row.length > 2);
  const other = timingRows(r).filter((row) => row.length === 2);
  if (measured.length) out.push(formatTable(TIMING_HEADERS, measured));
  for (const row of other) out.push(`${row[0]}: ${row[1]}`);
  const phases = phaseRows(r);
  if (phases.some((row) => row.length > 2)) {
    out.push('');
    out.push('phases (medians; "guest": timed in the VM\'s own clock, which under emulation is not host time):');
    out.push(
      formatTable(
        PHASE_HEADERS,
        phases.filter((row) => row.length > 2),
      ),
    );
    // modes that did not run are listed above already; these ran but reported no phases
    for (const row of phases)
      if (row.length === 2 && !other.some((o) => o[0] === row[0])) out.push(`${row[0]}: ${row[1]}`);
  }
  if (r.workload) {
    out.push('');
    out.push(`workload ${r.workload.preset}: ns per ${r.workload.what} (timed inside each mode):`);
    const wl = workloadRows(r);
    const ran = wl.filter((row) => row.length > 2);
    if (ran.length) out.push(formatTable(WORKLOAD_HEADERS, ran));
    for (const row of wl) if (row.length === 2) out.push(`${row[0]}: ${row[1]}`);
  }
  if (r.outputIdentical === false) {
    out.push('');
    out.push('OUTPUT DIFFERS between modes:');
    for (const m of r.modes)
      if (m.output) out.push(`  ${m.plan.label}: ${JSON.stringify(m.output.stdout.slice(0, 200))}`);
  }
  const iso = isolationRows(r);
  if (iso.headers.length > 2) {
    out.push('');
    out.push(formatTable(iso.headers, iso.rows));
  }
  for (const m of r.modes)
    if (m.isolationError) out.push(`${m.plan.label}: isolation probe failed: ${m.isolationError}`);
  return out.join('\n');
}
