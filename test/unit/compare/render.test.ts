import { describe, expect, it } from 'vitest';
import { formatNs, phaseRows, phaseSeries, workloadRows, workloadSeries } from '../../../src/compare/phase-charts.js';
import { finishModes } from '../../../src/compare/compare.js';
import { renderHtml } from '../../../src/compare/render-html.js';
import { isolationRows, renderText, timingRows } from '../../../src/compare/render-text.js';
import { barChartSvg, boxPlotSvg, esc, makeScale } from '../../../src/compare/svg.js';
import { fixtureResult } from './fixture.js';

describe('terminal table', () => {
  it('one row per mode, ratios to the container, unavailable modes with their reason', () => {
    const r = fixtureResult();
    const rows = timingRows(r);
    expect(rows[0]!.slice(0, 2)).toEqual(['container', '310 ms']);
    expect(rows[0]![5]).toBe('1.00x');
    expect(rows[2]![0]).toBe('VM · QEMU TCG');
    expect(rows[2]![5]).toBe('10x');
    expect(rows[1]).toEqual(['VM · KVM addon', 'unavailable: software PVM: small guests only']);
    const text = renderText(r);
    expect(text).toMatch(/VM · KVM addon: unavailable: software PVM/);
    expect(text).toMatch(/identical/);
  });
  it('isolation rows compare the host with each mode', () => {
    const { headers, rows } = isolationRows(fixtureResult());
    expect(headers).toEqual(['FACT', 'HOST', 'CONTAINER', 'VM · QEMU TCG']);
    const byFact = Object.fromEntries(rows.map((r) => [r[0], r.slice(1)]));
    expect(byFact['kernel (uname -r)']).toEqual(['6.18.44-test', '6.18.44-test', '6.1.0-cloud']);
    expect(byFact['shares host kernel']).toEqual(['-', 'yes', 'no']);
    expect(byFact['visible CPUs (nproc)']).toEqual(['2', '2', '1']);
  });
  it('says so when outputs differ', () => {
    expect(renderText(fixtureResult({ qemuStdout: 'other\n' }))).toMatch(/OUTPUT DIFFERS/);
  });
});

describe('svg', () => {
  it('log scale ticks span the decades of the data', () => {
    const s = makeScale([300, 3100], true);
    expect(s.min).toBe(100);
    expect(s.max).toBe(10000);
    expect(s.ticks).toEqual([100, 200, 500, 1000, 2000, 5000, 10000]);
    expect(s.pos(1000)).toBeCloseTo(0.5, 5);
  });
  it('linear scale starts at 0 with round steps', () => {
    const s = makeScale([0, 310000], false);
    expect(s.min).toBe(0);
    expect(s.ticks[0]).toBe(0);
    expect(s.max).toBeGreaterThanOrEqual(310000);
    expect(s.ticks.length).toBeLessThanOrEqual(8);
  });
  it('box plot draws every sample, a box and a median per series', () => {
    const svg = boxPlotSvg(
      [
        { id: 'a', label: 'A <1>', color: '#111', values: [1, 2, 3] },
        { id: 'b', label: 'B', color: '#222', values: [10, 20] },
      ],
      { chart: 'wall', title: 'T', format: (v) => `${v}`, axisLabel: 'ms', log: true },
    );
    expect(svg.match(/class="sample"/g)!.length).toBe(5);
    expect(svg.match(/class="box"/g)!.length).toBe(2);
    expect(svg).toContain('data-series="a"');
    expect(svg).toContain('A &lt;1&gt;');
    expect(svg).not.toContain('<1>');
  });
  it('bar chart stacks parts with a legend', () => {
    const svg = barChartSvg(
      [
        {
          id: 'x',
          label: 'X',
          parts: [
            { id: 'u', name: 'user', value: 1, color: '#1' },
            { id: 's', name: 'sys', value: 2, color: '#2' },
          ],
        },
      ],
      { chart: 'cpu', title: 'C', format: String, axisLabel: '' },
    );
    expect(svg.match(/class="bar"/g)!.length).toBe(2);
    expect(svg).toContain('>user</text>');
    expect(esc('"&')).toBe('&quot;&amp;');
  });
});

describe('HTML report', () => {
  const html = renderHtml(fixtureResult());
  it('is self-contained: no scripts, no external URLs, no links', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link/i);
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/@import|url\(/i);
    // the only URL is the SVG namespace identifier
    expect(html.match(/https?:\/\/[^"]+/g)!.every((u) => u === 'http://www.w3.org/2000/svg')).toBe(true);
  });
  it('has the four charts, the tables and the host explanation', () => {
    for (const c of ['wall', 'memory', 'cpu', 'prep']) expect(html).toContain(`data-chart="${c}"`);
    expect(html.match(/data-row="isolation"/g)!.length).toBe(7);
    expect(html).toContain('OS-level virtualization (containers): usable here.');
    expect(html).toContain('data-mode="kvm"');
    expect(html).toMatch(/not available/);
    expect(html).toContain('Every mode printed the same bytes');
  });
});

describe('phase and workload views', () => {
  const r = fixtureResult({ workload: true });
  it('summarises the phases and ns/op per mode, with ratios to the container', () => {
    const [c, , q] = r.modes;
    expect(c!.workMs?.median).toBe(21);
    // medians of the phases need not add up (they may come from different runs); each run's phases do
    for (const x of c!.samples) {
      const p = x.phases;
      expect(p.bootMs! + p.workMs! + p.teardownMs!).toBeCloseTo(x.wallMs, 6);
    }
    expect(q!.phaseHow).toEqual({ boot: 'derived', work: 'mode clock', teardown: 'host clock' });
    expect(c!.workload).toMatchObject({ preset: 'syscall', iterations: 1000 });
    expect(c!.workload!.nsPerOp.median).toBe(201);
    expect(q!.ratios?.nsPerOp).toBeCloseTo(2001 / 201, 6);
    // the same iteration count in both modes here, so their work times compare
    expect(q!.ratios?.work).toBeCloseTo(201 / 21, 6);
    expect(r.outputIdentical).toBeUndefined();
  });
  it('no work ratio between different amounts of work (an emulated rung runs fewer iterations)', () => {
    const r2 = fixtureResult({ workload: true });
    const q = r2.modes[2]!;
    for (const x of q.samples) x.stdout = x.stdout.replace('iterations=1000', 'iterations=100');
    finishModes(r2.modes);
    expect(q.workload!.iterations).toBe(100);
    expect(q.ratios?.work).toBeUndefined();
    expect(q.ratios?.nsPerOp).toBeGreaterThan(1);
  });
  it('phase series: every run, slowest rung first, and why a mode is missing', () => {
    const boot = phaseSeries(r, 'boot');
    expect(boot.rows.map((x) => x.id)).toEqual(['qemu', 'container']);
    expect(boot.rows[1]!.values).toEqual([300 - 20 - 30, 320 - 21 - 32, 310 - 22 - 31]);
    expect(boot.missing).toEqual([{ id: 'kvm', label: 'VM · KVM addon', why: 'software PVM: small guests only' }]);
    expect(phaseSeries(r, 'work').rows[0]!.values).toEqual([200, 201, 202]);
  });
  it('a measured mode without work times or workload line says so', () => {
    const plain = fixtureResult();
    const work = phaseSeries(plain, 'work');
    expect(work.rows).toEqual([]);
    expect(work.missing.find((m) => m.id === 'container')!.why).toMatch(/no work times/);
    expect(phaseRows(plain)[2]).toEqual(['container', expect.stringMatching(/no work times/)]);
  });
  it('workload series and tables', () => {
    const wl = workloadSeries(r);
    expect(wl.rows.map((x) => [x.id, x.values])).toEqual([
      ['qemu', [2000, 2001, 2002]],
      ['container', [200, 201, 202]],
    ]);
    const rows = workloadRows(r);
    expect(rows.map((x) => x[0])).toEqual(['VM · QEMU TCG', 'VM · KVM addon', 'container']);
    expect(rows[0]!.slice(1)).toEqual(['1000', '2.00 µs', '2.00 µs', '2.00 µs', '10.0x']);
    expect(rows[2]![2]).toBe('201 ns');
    expect(formatNs(1234567)).toBe('1.2 ms');
    expect(formatNs(12.34)).toBe('12.3 ns');
  });
  it('the text report has the phases and the workload tables', () => {
    const text = renderText(r);
    expect(text).toMatch(/--workload syscall --iterations 1000 demo/);
    expect(text).toMatch(/TO WORK \(BOOT\)\s+WORK\s+TEARDOWN/);
    expect(text).toMatch(/VM · QEMU TCG\s+1000\s+2.00 µs/);
    expect(text).toMatch(/boot derived, work guest, teardown host/);
  });
  it('the HTML report has one chart per phase and one for the workload, naming the modes left out', () => {
    const html = renderHtml(r);
    for (const c of ['phase-boot', 'phase-work', 'phase-teardown', 'workload-syscall'])
      expect(html).toContain(`data-chart="${c}"`);
    expect(html.match(/data-missing="[^"]+"/g)!.length).toBe(4);
    expect(html).toContain('<b>VM · KVM addon</b> is not shown: software PVM: small guests only');
    // slowest rung first in every chart: QEMU's row comes before the container's
    const work = html.slice(html.indexOf('data-chart="phase-work"'));
    expect(work.indexOf('data-series="qemu"')).toBeLessThan(work.indexOf('data-series="container"'));
    expect(html).toContain('its output is not compared');
  });
});
