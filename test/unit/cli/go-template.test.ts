import { describe, expect, it } from 'vitest';
import { GoTemplate, renderRows, renderTableFormat, show } from '../../../src/cli/go-template.js';

const inspect = {
  Id: 'abc123',
  Name: '/web',
  State: { Status: 'running', Running: true, Pid: 4242, ExitCode: 0, Health: null },
  Config: { Env: ['PATH=/bin', 'A=1'], Labels: { tier: 'front', app: 'x' }, Cmd: ['sh', '-c', 'echo'] },
  NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }] }, IPAddress: '10.0.0.2' },
  Mounts: [],
};
const t = (src: string, data: unknown = inspect) => new GoTemplate(src).execute(data);

describe('GoTemplate: what people pass to docker inspect -f / ps --format', () => {
  it('fields, nested fields, the dot and the root, printed as Go prints them', () => {
    expect(t('{{.State.Pid}}')).toBe('4242');
    expect(t('{{.State.Running}} {{.State.Status}}')).toBe('true running');
    expect(t('{{.Config.Env}}')).toBe('[PATH=/bin A=1]');
    expect(t('{{.Config.Labels}}')).toBe('map[app:x tier:front]');
    expect(t('{{.State.Health}}')).toBe('<no value>');
    expect(t('{{with .State}}{{.Pid}} {{$.Id}}{{end}}')).toBe('4242 abc123');
    expect(t('{{.}}', 'plain')).toBe('plain');
  });
  it('json, index, join, split, upper/lower/title, len, printf, println; pipes and parentheses', () => {
    expect(t('{{json .Config.Labels}}')).toBe('{"tier":"front","app":"x"}');
    expect(t('{{.Config.Cmd | json}}')).toBe('["sh","-c","echo"]');
    expect(t('{{index .Config.Labels "tier"}}')).toBe('front');
    expect(t('{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}')).toBe('8080');
    expect(t('{{join .Config.Env ","}}')).toBe('PATH=/bin,A=1');
    expect(t('{{index (split "a:b" ":") 1}}')).toBe('b');
    expect(t('{{upper .State.Status}} {{.Name | lower}} {{title "hello world"}}')).toBe('RUNNING /web Hello World');
    expect(t('{{len .Config.Env}} {{len .Mounts}}')).toBe('2 0');
    expect(t('{{printf "%s:%d %q %%" .Name .State.Pid "x"}}')).toBe('/web:4242 "x" %');
    expect(t('{{println .Id}}x')).toBe('abc123\nx');
  });
  it('if/else if/else, range over lists and maps (sorted keys) with variables, range else, comparisons', () => {
    expect(t('{{if .State.Running}}up{{else}}down{{end}}')).toBe('up');
    expect(t('{{if eq .State.Status "exited"}}e{{else if eq .State.Status "running" "paused"}}r{{else}}?{{end}}')).toBe(
      'r',
    );
    expect(t('{{if not .Mounts}}none{{end}}')).toBe('none');
    expect(t('{{if and .State.Running (gt .State.Pid 1)}}ok{{end}}')).toBe('ok');
    expect(t('{{range .Config.Env}}[{{.}}]{{end}}')).toBe('[PATH=/bin][A=1]');
    expect(t('{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}')).toBe('app=x;tier=front;');
    expect(t('{{range $p, $b := .NetworkSettings.Ports}}{{$p}}->{{(index $b 0).HostPort}}{{end}}')).toBe(
      '80/tcp->8080',
    );
    expect(t('{{range .Mounts}}m{{else}}no mounts{{end}}')).toBe('no mounts');
    expect(t('{{$n := .Name}}{{$n}}')).toBe('/web');
  });
  it('trim markers and comments', () => {
    expect(t('a  {{- .Id -}}  b{{/* gone */}}')).toBe('aabc123b');
    expect(t('{{ .Id }}')).toBe('abc123');
    expect(t('x{{"}}"}}y')).toBe('x}}y');
  });
  it('errors name what is wrong, and nothing is printed half', () => {
    expect(() => t('{{.Nope}}')).toThrow(/template parsing error: map has no entry for key "Nope"/);
    expect(() => t('{{.State.Pid.X}}')).toThrow(/can't evaluate field X in 4242/);
    expect(() => t('{{nosuch .Id}}')).toThrow(/function "nosuch" not defined/);
    expect(() => t('{{if .Id}}x')).toThrow(/missing \{\{end\}\}/);
    expect(() => t('{{end}}')).toThrow(/unexpected \{\{end\}\}/);
    expect(() => t('{{.Id')).toThrow(/unclosed action/);
    expect(() => t('{{template "x"}}')).toThrow(/not supported/);
    expect(() => t('{{$x}}')).toThrow(/undefined variable "\$x"/);
    expect(() => t('{{.Id .Name}}')).toThrow(/can't give arguments/);
  });
});

describe('table and row formats (docker ps/images --format)', () => {
  const rows = [
    { ID: 'a1', Names: 'web', Status: 'Up 2 minutes' },
    { ID: 'b22222', Names: 'db', Status: 'Exited (0)' },
  ];
  it('"table" gives a header from the column names and aligns with three spaces', () => {
    expect(
      renderTableFormat('table {{.ID}}\\t{{.Names}}\\t{{.Status}}', rows, { ID: 'CONTAINER ID', Names: 'NAMES' }),
    ).toBe(
      [
        'CONTAINER ID   NAMES   STATUS',
        'a1             web     Up 2 minutes',
        'b22222         db      Exited (0)',
      ].join('\n'),
    );
    expect(renderTableFormat('{{.ID}}', rows, {})).toBeUndefined();
  });
  it('a function field is a method: {{.Label "key"}}; JSON leaves it out', () => {
    const withLabel = [{ ID: 'a1', Label: (k: string) => ({ tier: 'front' })[k] ?? '' }];
    expect(renderRows('{{.ID}} {{.Label "tier"}}/{{.Label "none"}}', withLabel)).toBe('a1 front/');
    expect(renderTableFormat('table {{.ID}}\\t{{.Label "tier"}}', withLabel, { ID: 'ID', Label: 'LABEL' })).toBe(
      'ID   LABEL\na1   front',
    );
    expect(renderRows('json', withLabel)).toBe('{"ID":"a1"}');
    expect(() => renderRows('{{.ID "x"}}', withLabel)).toThrow(/can't give arguments to a value \(\.ID\)/);
  });
  it('one line per row; "json" gives one JSON object per line', () => {
    expect(renderRows('{{.ID}}:{{.Names}}', rows)).toBe('a1:web\nb22222:db');
    expect(renderRows('{{.ID}}\\t{{.Names}}', rows)).toBe('a1\tweb\nb22222\tdb');
    expect(renderRows('json', rows)).toBe(rows.map((r) => JSON.stringify(r)).join('\n'));
  });
  it('show: Go %v of JSON values', () => {
    expect(show([1, 'a', { b: [true] }])).toBe('[1 a map[b:[true]]]');
    expect(show(null)).toBe('<no value>');
  });
});
