import type { CommandLine, CommandResult } from '../../../src/util/exec.js';
import type { CommandRunner, RunOptions } from '../../../src/network/kernel.js';

/** One command line the code under test ran, as `file arg arg …`, with its stdin. */
export interface RecordedCommand {
  line: string;
  input?: string;
}

/**
 * A CommandRunner that runs nothing: it records each command line and answers from `reply` (first matching
 * prefix of the line wins; unmatched lines succeed with empty output). Like runCommand, a non-zero exit is
 * thrown unless allowFailure is set.
 */
export class FakeRunner implements CommandRunner {
  readonly ran: RecordedCommand[] = [];
  constructor(private readonly replies: Array<[prefix: string, result: Partial<CommandResult>]> = []) {}

  async run(cmd: CommandLine, opts: RunOptions = {}): Promise<CommandResult> {
    const line = [cmd.file, ...cmd.args].join(' ');
    this.ran.push({ line, ...(opts.input !== undefined ? { input: opts.input } : {}) });
    const reply = this.replies.find(([prefix]) => line.startsWith(prefix))?.[1] ?? {};
    const result: CommandResult = { stdout: '', stderr: '', exitCode: 0, ...reply };
    if (result.exitCode !== 0 && !opts.allowFailure) throw new Error(`${line} failed (exit ${result.exitCode})`);
    return result;
  }

  lines(): string[] {
    return this.ran.map((r) => r.line);
  }
}
