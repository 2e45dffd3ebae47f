/**
 * The data of the phase and workload views (the text tables and the HTML charts): per mode, slowest rung
 * first, the samples of one phase or the workload's ns/op, and for every mode left out, why. Pure.
 */
import type { CompareResult, ModeResult } from './compare.js';
import { byRung, parseWorkloadLine, type PhaseHow, type Phases } from './phases.js';
import { formatMs, formatRatio } from './stats.js';

export type PhaseName = 'boot' | 'work' | 'teardown';
export const PHASES: readonly PhaseName[] = ['boot', 'work', 'teardown'];

export const PHASE_TITLE: Record<PhaseName, string> = {
  boot: 'Start → the workload’s first instruction (boot)',
  work: 'The workload itself, in each mode’s own clock (work)',
  teardown: 'End of the work → the process exited on the host (teardown)',
};

const KEY: Record<PhaseName, keyof Phases & ('bootMs' | 'workMs' | 'teardownMs')> = {
  boot: 'bootMs',
  work: 'workMs',
  teardown: 'teardownMs',
};

export interface SeriesRow {
  id: string;
  label: string;
  kind: string;
  values: number[];
}

export interface SeriesData {
  rows: SeriesRow[];
  /** modes without data here, with the reason */
  missing: { id: string; label: string; why: string }[];
}

/** Why a mode has no samples to show (its plan's reason, its failure, or no work-times line). */
export function whyNoData(m: ModeResult, what: 'phases' | 'workload'): string {
  if (m.status === 'unavailable') return m.plan.reason.replace(/^unavailable: /, '');
  if (m.status === 'failed') return `failed: ${m.error ?? 'unknown error'}`;
  if (what === 'workload') return m.workloadError ?? 'no workload line in its output';
  return 'its runs reported no work times (an init without TVCTL_WORK_TIMES support?)';
}

function series(r: CompareResult, value: (m: ModeResult) => number[], what: 'phases' | 'workload'): SeriesData {
  const out: SeriesData = { rows: [], missing: [] };
  for (const m of byRung(r.modes)) {
    const values = m.status === 'measured' ? value(m) : [];
    if (values.length) out.rows.push({ id: m.plan.id, label: m.plan.label, kind: m.plan.kind, values });
    else out.missing.push({ id: m.plan.id, label: m.plan.label, why: whyNoData(m, what) });
  }
  return out;
}

/** Every measured run's value of one phase, per mode. */
export function phaseSeries(r: CompareResult, phase: PhaseName): SeriesData {
  return series(
    r,
    (m) => m.samples.map((s) => s.phases[KEY[phase]]).filter((v): v is number => v !== undefined),
    'phases',
  );
}

/** Every measured run's ns/op, per mode (modes whose runs did not all print the line are left out). */
export function workloadSeries(r: CompareResult): SeriesData {
  return series(
    r,
    (m) => (m.workload ? m.samples.map((s) => parseWorkloadLine(s.stdout)?.nsPerOp ?? NaN) : []),
    'workload',
  );
}

export function formatNs(ns: number | undefined): string {
  if (ns === undefined || !Number.isFinite(ns)) return '-';
  if (ns >= 1e6) return formatMs(ns / 1e6);
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(ns >= 1e5 ? 0 : ns >= 1e4 ? 1 : 2)} µs`;
  return `${ns.toFixed(ns >= 100 ? 0 : 1)} ns`;
}

function howText(h: ModeResult['phaseHow']): string {
  if (!h) return '-';
  const tag = (p: PhaseHow | undefined): string =>
    p === 'derived' ? 'derived' : p === 'mode clock' ? 'guest' : 'host';
  return `boot ${tag(h.boot)}, work ${tag(h.work)}, teardown ${tag(h.teardown)}`;
}

export const PHASE_HEADERS = ['MODE', 'TO WORK (BOOT)', 'WORK', 'TEARDOWN', 'TOTAL', 'WORK VS CONTAINER', 'CLOCKS'];

/** The phases table: medians per mode, slowest rung first; modes without phases say why. */
export function phaseRows(r: CompareResult): string[][] {
  return byRung(r.modes).map((m) => {
    if (m.status !== 'measured' || !m.workMs) return [m.plan.label, whyNoData(m, 'phases')];
    return [
      m.plan.label,
      formatMs(m.bootMs?.median),
      formatMs(m.workMs.median),
      formatMs(m.teardownMs?.median),
      formatMs(m.wallMs?.median),
      formatRatio(m.ratios?.work),
      howText(m.phaseHow),
    ];
  });
}

export const WORKLOAD_HEADERS = ['MODE', 'ITERATIONS', 'NS/OP MEDIAN', 'MIN', 'MAX', 'VS CONTAINER'];

export function workloadRows(r: CompareResult): string[][] {
  return byRung(r.modes).map((m) => {
    if (m.status !== 'measured' || !m.workload) return [m.plan.label, whyNoData(m, 'workload')];
    const s = m.workload.nsPerOp;
    return [
      m.plan.label,
      String(m.workload.iterations),
      formatNs(s.median),
      formatNs(s.min),
      formatNs(s.max),
      formatRatio(m.ratios?.nsPerOp),
    ];
  });
}
