import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Prerequisites of a test, and what happens when one is missing.
 *
 * A test whose prerequisite is missing is *skipped through vitest*, with the reason where the output shows it:
 * in the test's or suite's name for a reason known when the file loads (`it.skipIf(r)(withReason(name, r))`),
 * or as the note of `ctx.skip(reason)` inside a test. It never `return`s early from its body: that is reported
 * as a pass of something that did not run. The skip reporter (test/helpers/skip-reporter.ts) lists every
 * skipped test or suite with its reason at the end of a run.
 *
 * Two kinds of prerequisite:
 * - what scripts/setup.sh provides (the Debian tools, root, the native parts, the guest kernel): pass the reason
 *   through `provided()` (or use `missingTools()`). When `CI` or `TVCTL_REQUIRE_TOOLS=1` is set (scripts/test.sh
 *   sets the latter), a missing one throws instead of skipping, so the file fails and names what is missing: a
 *   CI run that silently skipped the umoci or QEMU tests would prove nothing about them.
 * - what only the hardware decides (hardware-assisted KVM or PVM, whether /dev/kvm exists or is world-usable):
 *   use the reason as it is; those stay skips everywhere, out loud.
 */
export const REQUIRE_PROVIDED = Boolean(process.env['CI']) || process.env['TVCTL_REQUIRE_TOOLS'] === '1';

/** Whether `cmd` is an executable on $PATH (as `command -v` would find it, without a shell). */
export function onPath(cmd: string): boolean {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      /* not in this directory */
    }
  }
  return false;
}

/**
 * `reason` (a missing prerequisite that scripts/setup.sh provides) as a skip reason; undefined stays undefined.
 * Throws where nothing set-up provides may be missing (REQUIRE_PROVIDED).
 */
export function provided(reason: string | undefined): string | undefined {
  if (reason !== undefined && REQUIRE_PROVIDED) {
    throw new Error(
      `${reason}: scripts/setup.sh provides it, and with CI or TVCTL_REQUIRE_TOOLS=1 set a missing prerequisite fails instead of skipping`,
    );
  }
  return reason;
}

/** The skip reason when any of `cmds` is not on $PATH, else undefined; see `provided` for CI. */
export function missingTools(...cmds: string[]): string | undefined {
  const missing = cmds.filter((c) => !onPath(c));
  return provided(missing.length > 0 ? `not installed: ${missing.join(', ')}` : undefined);
}

/** A test or suite name with the reason it is skipped, when it is. */
export function withReason(name: string, reason: string | undefined): string {
  return reason === undefined ? name : `${name} (skipped: ${reason})`;
}
