/**
 * The modes a compare runs and the tvctl command line for each. Which modes can run here follows from the
 * host facts; a mode that cannot run is kept with its reason, never dropped. Pure.
 */
import type { EngineUse } from '../host/facts.js';

export type ModeId = 'container' | 'kvm' | 'qemu' | 'bochs';
/** Every mode, one per rung of the ladder, from the top (no emulation) to the bottom (every instruction interpreted). */
export const ALL_MODES: readonly ModeId[] = ['container', 'kvm', 'qemu', 'bochs'];
/** What a compare runs unless told otherwise: bochs is left out, each of its runs takes seconds to tens of seconds. */
export const DEFAULT_MODES: readonly ModeId[] = ['container', 'kvm', 'qemu'];

export interface ModePlan {
  id: ModeId;
  /** "container", "VM · KVM addon", "VM · QEMU TCG", "VM · Bochs" */
  label: string;
  /** how the workload reaches the CPU, as a rung of the taxonomy explainHost (src/host/facts.ts) spells out */
  kind: string;
  available: boolean;
  /** why it can run, or why not */
  reason: string;
  accel?: 'kvm' | 'tcg';
  /** tvctl arguments up to the image (the image and command follow) */
  tvctlArgs: string[];
}

export function parseEngines(list: string): ModeId[] {
  const out: ModeId[] = [];
  for (const raw of list.split(',')) {
    const e = raw.trim();
    if (!e) continue;
    if (!(ALL_MODES as readonly string[]).includes(e))
      throw new Error(`unknown engine "${e}"; use a comma-separated list of ${ALL_MODES.join(', ')}`);
    if (!out.includes(e as ModeId)) out.push(e as ModeId);
  }
  if (out.length === 0) throw new Error(`--engines is empty; use a comma-separated list of ${ALL_MODES.join(', ')}`);
  return out;
}

export interface PlanInputs {
  engines: readonly EngineUse[];
  /** whether this build has `tvctl vm run` */
  vmRunBuilt: boolean;
  guestKernelInstalled: boolean;
}

/**
 * Container runs use `--network none`: the VM has no network either, so both start the same kind of workload
 * (a bridge attachment would add its own set-up time to the container side only).
 */
export function planModes(requested: readonly ModeId[], inp: PlanInputs): ModePlan[] {
  return requested.map((id) => {
    const use = inp.engines.find((e) => e.engine === id);
    if (id === 'container') {
      return {
        id,
        label: 'container',
        kind: 'OS-level virtualization',
        available: use?.usable ?? false,
        reason: use?.why ?? 'unknown',
        tvctlArgs: ['run', '--rm', '--network', 'none'],
      };
    }
    const plan = vmPlan(id, use);
    if (!use || !use.usable) plan.reason = `unavailable: ${use?.why ?? 'unknown engine'}`;
    else if (!use.fullLinux) plan.reason = `unavailable: ${use.why}`;
    else if (!inp.vmRunBuilt) plan.reason = 'unavailable: this build has no "tvctl vm run" command yet';
    else if (!inp.guestKernelInstalled)
      plan.reason = 'unavailable: no guest kernel installed (run "tvctl vm kernel install")';
    else plan.available = true;
    return plan;
  });
}

/** A VM mode's label, rung and command; available is decided by planModes. */
function vmPlan(id: 'kvm' | 'qemu' | 'bochs', use: EngineUse | undefined): ModePlan {
  const base = { id, available: false, reason: use?.why ?? 'unknown engine', tvctlArgs: ['vm', 'run', '--engine', id] };
  if (id === 'bochs') return { ...base, label: 'VM · Bochs', kind: 'interpreted emulation' };
  const accel = id === 'kvm' ? 'kvm' : (use?.accel ?? 'tcg');
  return {
    ...base,
    label: id === 'kvm' ? 'VM · KVM addon' : `VM · QEMU ${accel.toUpperCase()}`,
    kind: accel === 'kvm' ? 'hardware-assisted virtualization' : 'compiled emulation',
    accel,
  };
}
