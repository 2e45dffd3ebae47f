import { describe, expect, it } from 'vitest';
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
