import type { Reporter, TestCase, TestModule, TestSuite } from 'vitest/node';

/**
 * Lists, after a run, every skipped suite and test with its reason (see test/helpers/prereq.ts), so a skip is
 * never only a number in the summary. A suite whose tests all skipped is listed once, not test by test.
 */
export default class SkipReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const lines: string[] = [];
    for (const m of testModules) {
      const here: string[] = [];
      collect(m.children.array(), here);
      for (const l of here) lines.push(`  ${m.relativeModuleId} > ${l}`);
    }
    if (lines.length > 0) process.stdout.write(`\nSkipped (${lines.length}):\n${lines.join('\n')}\n`);
  }
}

function collect(entries: ReadonlyArray<TestCase | TestSuite>, out: string[]): void {
  for (const e of entries) {
    if (e.type === 'suite') {
      if (e.state() === 'skipped') out.push(e.fullName);
      else collect(e.children.array(), out);
    } else {
      const r = e.result();
      if (r.state === 'skipped') out.push(r.note === undefined ? e.fullName : `${e.fullName} [${r.note}]`);
    }
  }
}
