/**
 * One `tvctl compare` from the user's request to its result: the modes planned from the host's facts, the
 * one-time preparation of each mode, the measured runs (runCompare), and the HTML report when asked for.
 */
import { writeFileAtomicSync } from '../util/atomic-write.js';
import { join } from 'node:path';
import { TvctlError, errorMessage } from '../errors.js';
import { gatherHostFacts } from '../host/facts.js';
import { ImageStore } from '../images/store.js';
import { packageRoot, type Roots } from '../paths.js';
import { runCompare, type CompareResult } from './compare.js';
import { parseEngines, planModes, type ModeId } from './modes.js';
import { measureInitramfsBuild, measureLayerUnpack, type PrepMeasurement } from './prep.js';
import { renderHtml } from './render-html.js';

export interface CompareRequest {
  image: string;
  command: string[];
  runs: number;
  /** comma-separated modes, as the --engines flag takes them */
  engines: string;
  roots: Roots;
  /** whether this build has `tvctl vm run` (the VM modes need it) */
  vmRunBuilt: boolean;
  /** an absolute path: write the HTML report there */
  reportPath?: string;
  onProgress?: (msg: string) => void;
}

export async function compareImage(req: CompareRequest): Promise<CompareResult> {
  let engines: ModeId[];
  try {
    engines = parseEngines(req.engines);
  } catch (err) {
    throw new TvctlError('BAD_USAGE', errorMessage(err));
  }
  await new ImageStore(req.roots.data).lookup(req.image); // unknown image: fail now, before anything runs
  const host = gatherHostFacts({ dataRoot: req.roots.data });
  const plans = planModes(engines, {
    engines: host.engines,
    vmRunBuilt: req.vmRunBuilt,
    guestKernelInstalled: host.guestKernel.installed,
  });
  const prepare: Partial<Record<ModeId, () => Promise<PrepMeasurement>>> = {
    container: () => measureLayerUnpack(req.roots.data, req.image),
    kvm: () => measureInitramfsBuild(req.roots.data, req.image),
    qemu: () => measureInitramfsBuild(req.roots.data, req.image),
    bochs: () => measureInitramfsBuild(req.roots.data, req.image),
  };
  const result = await runCompare({
    image: req.image,
    command: req.command,
    runs: req.runs,
    plans,
    roots: req.roots,
    tvctlBin: join(packageRoot(), 'bin', 'tvctl'),
    host,
    prepare,
    ...(req.onProgress ? { onProgress: req.onProgress } : {}),
  });
  if (req.reportPath) {
    writeFileAtomicSync(req.reportPath, renderHtml(result), 0o644);
  }
  return result;
}
