/**
 * One error family for the whole project. `code` is a stable machine-readable tag (shown in --json output);
 * `exitCode` follows Docker's conventions: 125 when tvctl itself fails, 126 when the command cannot be
 * invoked, 127 when it is not found.
 */
export class TvctlError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, exitCode = 125, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TvctlError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

export const EXIT_TVCTL = 125;
export const EXIT_CANNOT_INVOKE = 126;
export const EXIT_NOT_FOUND = 127;

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
