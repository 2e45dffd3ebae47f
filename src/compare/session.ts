/**
 * One `tvctl compare` from the user's request to its result: the modes planned from the host's facts, the
 * one-time preparation of each mode, the measured runs (runCompare), and the HTML report when asked for.
 */
import { writeFileAtomicSync } from '../util/atomic-write.js';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { TvctlError, errorMessage } from '../errors.js';
import { gatherHostFacts } from '../host/facts.js';
import { ImageStore } from '../images/store.js';
import { nativeBuildDir, packageRoot, type Roots } from '../paths.js';
import { runCompare, type CompareResult, type WorkloadSpec } from './compare.js';
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
  /** run this workload preset in every mode instead of `command` */
  workload?: WorkloadSpec;
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
  const store = new ImageStore(req.roots.data);
  await store.lookup(req.image); // unknown image: fail now, before anything runs
  if (req.workload) {
    // The workload replaces the image's Cmd; an Entrypoint would get it as arguments, and vm run cannot
    // override one.
    const { entrypoint } = (await store.resolve(req.image)).config;
    if (entrypoint?.length)
      throw new TvctlError(
        'BAD_USAGE',
        `image "${req.image}" has an ENTRYPOINT (${entrypoint.join(' ')}); --workload needs an image without one`,
      );
  }
  const host = gatherHostFacts({ dataRoot: req.roots.data });
  const plans = planModes(engines, {
    engines: host.engines,
    vmRunBuilt: req.vmRunBuilt,
    guestKernelInstalled: host.guestKernel.installed,
  });
  let workloadBin: string | undefined;
  if (req.workload) {
    workloadBin = join(nativeBuildDir(), 'tvctl-workload');
    try {
      accessSync(workloadBin, constants.X_OK);
    } catch {
      throw new TvctlError(
        'WORKLOAD_MISSING',
        `the workload ${workloadBin} is not built; run "make -C native" (or "npm run build")`,
      );
    }
  }
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
    ...(req.workload ? { workload: req.workload } : {}),
    ...(workloadBin ? { workloadBin } : {}),
    host,
    prepare,
    ...(req.onProgress ? { onProgress: req.onProgress } : {}),
  });
  if (req.reportPath) {
    writeFileAtomicSync(req.reportPath, renderHtml(result), 0o644);
  }
  return result;
}
