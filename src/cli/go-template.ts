/**
 * Docker's `--format`: the part of Go's text/template that people type, evaluated on JSON-shaped values
 * (as Docker evaluates it on its inspect output):
 *   {{.Field.Sub}} {{.}} {{$}} {{$var.Field}}   values, printed as Go's %v prints them
 *   {{json .X}} {{.X | json}} {{index .Map "key"}} {{join .List ","}} {{split .S ","}} {{upper .S}}
 *   {{lower .S}} {{title .S}} {{len .X}} {{println .A .B}} {{printf "%s:%d" .A .B}}
 *   {{eq .A "x"}} {{ne}} {{lt}} {{le}} {{gt}} {{ge}} {{not}} {{and}} {{or}}
 *   {{if P}}…{{else if P}}…{{else}}…{{end}} {{range P}}…{{else}}…{{end}} {{range $k, $v := P}}
 *   {{with P}}…{{end}}, comments, and {{- trimming -}}; a field whose value is a function is a method
 *   ({{.Label "key"}}).
 * Anything else is an error that names it (`template parsing error: …`), never a silent empty output.
 */
import { TvctlError } from '../errors.js';
import { formatTable } from './table.js';

type Value = unknown;

interface Pipeline {
  decl: string[]; // $k, $v :=
  cmds: Node[][]; // each command: operands (the first may be a function name)
}
type Node =
  | { k: 'field'; base: 'dot' | string; path: string[] } // base: 'dot' or a variable name ('$' for the root)
  | { k: 'lit'; v: Value }
  | { k: 'ident'; name: string }
  | { k: 'sub'; p: Pipeline; path: string[] }; // (pipeline).Field.Sub
type Item =
  | { k: 'text'; s: string }
  | { k: 'action'; p: Pipeline }
  | { k: 'if' | 'with'; p: Pipeline; body: Item[]; alt: Item[] }
  | { k: 'range'; p: Pipeline; body: Item[]; alt: Item[] };

const fail = (msg: string): never => {
  throw new TvctlError('BAD_USAGE', `template parsing error: ${msg}`);
};

/** A compiled template: `execute(value)` renders it for one value. */
export class GoTemplate {
  private readonly items: Item[];

  constructor(readonly source: string) {
    const parts = split(source);
    const p = new Parser(parts);
    this.items = p.list(new Set());
    if (p.more()) fail(`unexpected {{${p.peekWord()}}}`);
  }

  execute(data: Value): string {
    const out: string[] = [];
    run(this.items, data, new Map([['$', data]]), out);
    return out.join('');
  }
}

/** Text and actions, with {{- and -}} trimming applied and comments dropped. */
function split(src: string): ({ text: string } | { action: string })[] {
  const parts: ({ text: string } | { action: string })[] = [];
  let i = 0;
  let trimNext = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = src.slice(i, open < 0 ? src.length : open);
    if (trimNext) text = text.replace(/^\s+/, '');
    if (open < 0) {
      parts.push({ text });
      break;
    }
    let start = open + 2;
    if (/^-\s/.test(src.slice(start))) {
      text = text.replace(/\s+$/, '');
      start++;
    }
    parts.push({ text });
    const close = findClose(src, start);
    if (close < 0) fail(`unclosed action in "${src}"`);
    let action = src.slice(start, close);
    trimNext = /\s-$/.test(action);
    if (trimNext) action = action.slice(0, -1);
    action = action.trim();
    if (!/^\/\*[\s\S]*\*\/$/.test(action)) parts.push({ action });
    i = close + 2;
  }
  return parts.filter((p) => !('text' in p) || p.text !== '');
}

/** Where the action starting at `from` closes, skipping strings (a "}}" inside quotes does not close it). */
function findClose(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s[i];
    if (c === '"' || c === '`') {
      for (i++; i < s.length && s[i] !== c; i++) if (c === '"' && s[i] === '\\') i++;
    } else if (c === '}' && s[i + 1] === '}') return i;
  }
  return -1;
}

function tokenize(action: string): string[] {
  const toks: string[] = [];
  const re = /("(?:[^"\\]|\\.)*"|`[^`]*`|:=|[|(),]|[^\s|(),"`]+)/y;
  for (let i = 0; i < action.length;) {
    if (/\s/.test(action[i]!)) {
      i++;
      continue;
    }
    re.lastIndex = i;
    const m = re.exec(action);
    if (!m) return fail(`cannot read "${action}"`);
    toks.push(m[1]!);
    i = re.lastIndex;
  }
  return toks;
}

class Parser {
  private i = 0;
  constructor(private readonly parts: ({ text: string } | { action: string })[]) {}

  more(): boolean {
    return this.i < this.parts.length;
  }

  peekWord(): string {
    const p = this.parts[this.i];
    return p && 'action' in p ? p.action : '';
  }

  /** Items until one of `stops` (end, else) is the next action, which is left for the caller. */
  list(stops: Set<string>): Item[] {
    const items: Item[] = [];
    while (this.more()) {
      const part = this.parts[this.i]!;
      if ('text' in part) {
        items.push({ k: 'text', s: part.text });
        this.i++;
        continue;
      }
      const toks = tokenize(part.action);
      const word = toks[0] ?? '';
      if (stops.has(word)) return items;
      this.i++;
      if (word === 'if' || word === 'with' || word === 'range') {
        const p = pipeline(toks.slice(1), word === 'range');
        const body = this.list(new Set(['end', 'else']));
        items.push({ k: word, p, body, alt: this.rest(word) });
      } else if (word === 'end' || word === 'else') fail(`unexpected {{${part.action}}}`);
      else if (['define', 'template', 'block', 'break', 'continue'].includes(word))
        fail(`{{${word}}} is not supported`);
      else items.push({ k: 'action', p: pipeline(toks, false) });
    }
    if (stops.size) fail('missing {{end}}');
    return items;
  }

  /** After a block's body: {{else}}…{{end}}, {{else if …}}…, or {{end}}. */
  private rest(word: string): Item[] {
    const part = this.parts[this.i];
    if (!part || !('action' in part)) return fail('missing {{end}}');
    const toks = tokenize(part.action);
    this.i++;
    if (toks[0] === 'end') return [];
    if (toks[0] === 'else' && toks.length === 1) {
      const alt = this.list(new Set(['end']));
      this.i++; // the {{end}}
      return alt;
    }
    if (toks[0] === 'else' && toks[1] === 'if' && word === 'if') {
      const p = pipeline(toks.slice(2), false);
      const body = this.list(new Set(['end', 'else']));
      return [{ k: 'if', p, body, alt: this.rest('if') }];
    }
    return fail(`unexpected {{${part.action}}}`);
  }
}

function pipeline(toks: string[], allowTwoVars: boolean): Pipeline {
  let decl: string[] = [];
  const assign = toks.indexOf(':=');
  if (assign >= 0) {
    decl = toks.slice(0, assign).filter((t) => t !== ',');
    if (!decl.length || decl.length > (allowTwoVars ? 2 : 1) || !decl.every((d) => /^\$\w+$/.test(d)))
      fail(`bad variable declaration "${toks.join(' ')}"`);
    toks = toks.slice(assign + 1);
  }
  const cmds: Node[][] = [[]];
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i]!;
    if (t === '|') {
      cmds.push([]);
      continue;
    }
    if (t === '(') {
      let depth = 1;
      let j = i + 1;
      for (; j < toks.length && depth; j++) depth += toks[j] === '(' ? 1 : toks[j] === ')' ? -1 : 0;
      if (depth) fail(`unclosed "(" in "${toks.join(' ')}"`);
      // (x).Field: a field chain right after the parenthesis
      const chain = toks[j]?.startsWith('.') && toks[j] !== '.' ? fieldPath(toks[j]!.slice(1), toks[j]!) : [];
      cmds[cmds.length - 1]!.push({ k: 'sub', p: pipeline(toks.slice(i + 1, j - 1), false), path: chain });
      i = chain.length ? j : j - 1;
      continue;
    }
    cmds[cmds.length - 1]!.push(operand(t));
  }
  if (cmds.some((c) => c.length === 0)) fail(`missing value in "${toks.join(' ')}"`);
  return { decl, cmds };
}

function operand(t: string): Node {
  if (t === '.') return { k: 'field', base: 'dot', path: [] };
  if (t.startsWith('.')) return { k: 'field', base: 'dot', path: fieldPath(t.slice(1), t) };
  if (t.startsWith('$')) {
    const [name, ...rest] = t.split('.');
    return { k: 'field', base: name!, path: rest.length ? fieldPath(rest.join('.'), t) : [] };
  }
  if (t.startsWith('"')) return { k: 'lit', v: JSON.parse(t.replace(/\\([^"\\/bfnrtu])/g, '$1')) as string };
  if (t.startsWith('`')) return { k: 'lit', v: t.slice(1, -1) };
  if (/^-?\d+(\.\d+)?$/.test(t)) return { k: 'lit', v: Number(t) };
  if (t === 'true' || t === 'false') return { k: 'lit', v: t === 'true' };
  if (t === 'nil') return { k: 'lit', v: null };
  if (/^[A-Za-z_]\w*$/.test(t)) return { k: 'ident', name: t };
  return fail(`cannot read "${t}"`);
}

function fieldPath(p: string, whole: string): string[] {
  const parts = p.split('.');
  if (parts.some((x) => !/^\w+$/.test(x))) fail(`bad field "${whole}"`);
  return parts;
}

/* ---------- evaluation ---------- */

type Scope = Map<string, Value>;

function run(items: Item[], dot: Value, scope: Scope, out: string[]): void {
  for (const it of items) {
    if (it.k === 'text') out.push(it.s);
    else if (it.k === 'action') {
      const v = evalPipeline(it.p, dot, scope);
      if (!it.p.decl.length) out.push(show(v));
    } else if (it.k === 'if' || it.k === 'with') {
      const v = evalPipeline(it.p, dot, scope);
      if (truthy(v)) run(it.body, it.k === 'with' ? v : dot, new Map(scope), out);
      else run(it.alt, dot, new Map(scope), out);
    } else {
      const v = evalPipeline({ ...it.p, decl: [] }, dot, scope);
      const entries: [Value, Value][] = Array.isArray(v)
        ? v.map((x, i) => [i, x])
        : isObject(v)
          ? Object.keys(v)
              .sort()
              .map((key) => [key, v[key]])
          : v === null || v === undefined
            ? []
            : fail(`range can't iterate over ${show(v)}`);
      if (!entries.length) run(it.alt, dot, new Map(scope), out);
      for (const [key, x] of entries) {
        const inner = new Map(scope);
        if (it.p.decl.length === 1) inner.set(it.p.decl[0]!, x);
        if (it.p.decl.length === 2) inner.set(it.p.decl[0]!, key).set(it.p.decl[1]!, x);
        run(it.body, x, inner, out);
      }
    }
  }
}

function evalPipeline(p: Pipeline, dot: Value, scope: Scope): Value {
  let prev: Value;
  let first = true;
  for (const cmd of p.cmds) {
    prev = evalCommand(cmd, dot, scope, first ? undefined : { v: prev });
    first = false;
  }
  if (p.decl.length === 1) scope.set(p.decl[0]!, prev);
  return prev;
}

function evalCommand(cmd: Node[], dot: Value, scope: Scope, piped: { v: Value } | undefined): Value {
  const head = cmd[0]!;
  if (head.k === 'ident') {
    const args = cmd.slice(1).map((n) => evalNode(n, dot, scope));
    if (piped) args.push(piped.v);
    return call(head.name, args);
  }
  if (cmd.length > 1 || piped) {
    // a method, like Docker's {{.Label "key"}} on ps rows: a field whose value is a function
    const f = head.k === 'field' ? evalField(head, dot, scope) : undefined;
    if (typeof f !== 'function') return fail(`can't give arguments to a value (${describe(head)})`);
    const args = cmd.slice(1).map((n) => evalNode(n, dot, scope));
    if (piped) args.push(piped.v);
    return (f as (...a: Value[]) => Value)(...args);
  }
  return evalNode(head, dot, scope);
}

function evalField(n: Extract<Node, { k: 'field' }>, dot: Value, scope: Scope): Value {
  let v: Value;
  if (n.base === 'dot') v = dot;
  else if (scope.has(n.base)) v = scope.get(n.base);
  else return fail(`undefined variable "${n.base}"`);
  return fieldsOf(v, n.path, n);
}

function evalNode(n: Node, dot: Value, scope: Scope): Value {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'sub':
      return fieldsOf(evalPipeline(n.p, dot, scope), n.path, n);
    case 'ident':
      return call(n.name, []);
    case 'field': {
      const v = evalField(n, dot, scope);
      return typeof v === 'function' ? (v as () => Value)() : v; // a method without arguments
    }
  }
}

function fieldsOf(v: Value, path: string[], n: Node): Value {
  for (const key of path) {
    if (!isObject(v)) return fail(`can't evaluate field ${key} in ${show(v)} (at ${describe(n)})`);
    if (!(key in v)) return fail(`map has no entry for key "${key}" (at ${describe(n)})`);
    v = v[key];
  }
  return v;
}

function describe(n: Node): string {
  if (n.k === 'field') return `${n.base === 'dot' ? '' : n.base}.${n.path.join('.')}`;
  if (n.k === 'ident') return n.name;
  if (n.k === 'lit') return JSON.stringify(n.v);
  return `(…)${n.path.map((x) => `.${x}`).join('')}`;
}

const isObject = (v: Value): v is Record<string, Value> => typeof v === 'object' && v !== null && !Array.isArray(v);

function truthy(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return !!v;
}

/** Go's %v of a value decoded from JSON. */
export function show(v: Value): string {
  if (v === null || v === undefined) return '<no value>';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(show).join(' ')}]`;
  if (isObject(v))
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${show(v[k])}`)
      .join(' ')}]`;
  return String(v);
}

function call(name: string, a: Value[]): Value {
  const want = (n: number): void => {
    if (a.length !== n) fail(`wrong number of args for ${name}: want ${n} got ${a.length}`);
  };
  const str = (v: Value): string => (typeof v === 'string' ? v : show(v));
  switch (name) {
    case 'json':
      want(1);
      return JSON.stringify(a[0] ?? null);
    case 'join':
      want(2);
      if (!Array.isArray(a[0])) return fail(`join: ${show(a[0])} is not a list`);
      return a[0].map(str).join(str(a[1]));
    case 'split':
      want(2);
      return str(a[0]).split(str(a[1]));
    case 'upper':
      want(1);
      return str(a[0]).toUpperCase();
    case 'lower':
      want(1);
      return str(a[0]).toLowerCase();
    case 'title':
      want(1);
      return str(a[0]).replace(/\b\w/g, (c) => c.toUpperCase());
    case 'len':
      want(1);
      if (typeof a[0] === 'string' || Array.isArray(a[0])) return a[0].length;
      if (isObject(a[0])) return Object.keys(a[0]).length;
      return fail(`len of ${show(a[0])}`);
    case 'index': {
      let v = a[0];
      for (const key of a.slice(1)) {
        if (Array.isArray(v) && typeof key === 'number') v = v[key];
        else if (isObject(v) && typeof key === 'string') v = v[key];
        else return fail(`can't index ${show(v)} with ${show(key)}`);
      }
      return v;
    }
    case 'println':
      return a.map(show).join(' ') + '\n';
    case 'print':
      return a.map(show).join('');
    case 'printf':
      if (!a.length) fail('printf needs a format');
      return printf(str(a[0]), a.slice(1));
    case 'eq':
      if (a.length < 2) fail('eq needs two arguments');
      return a.slice(1).some((b) => b === a[0]);
    case 'ne':
      want(2);
      return a[0] !== a[1];
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge': {
      want(2);
      const [x, y] = a as [number | string, number | string];
      if (typeof x !== typeof y || (typeof x !== 'number' && typeof x !== 'string'))
        return fail(`${name}: incompatible types`);
      return name === 'lt' ? x < y : name === 'le' ? x <= y : name === 'gt' ? x > y : x >= y;
    }
    case 'not':
      want(1);
      return !truthy(a[0]);
    case 'and':
      return a.find((x) => !truthy(x)) ?? a[a.length - 1];
    case 'or':
      return a.find(truthy) ?? a[a.length - 1];
    default:
      return fail(`function "${name}" not defined`);
  }
}

function printf(fmt: string, args: Value[]): string {
  let i = 0;
  return fmt.replace(/%([-+ 0#]*\d*)([sdvqtf%])/g, (_m, _flags: string, verb: string) => {
    if (verb === '%') return '%';
    const v = args[i++];
    if (verb === 'q') return JSON.stringify(typeof v === 'string' ? v : show(v));
    if (verb === 'd') return typeof v === 'number' ? String(Math.trunc(v)) : `%!d(${show(v)})`;
    if (verb === 'f') return typeof v === 'number' ? v.toFixed(6) : `%!f(${show(v)})`;
    return show(v);
  });
}

/**
 * `table` formats (docker ps/images): "table {{.A}}\t{{.B}}" gives a header row (each field's column name)
 * and columns aligned as Docker's tabwriter does. Returns undefined when the format is not a table.
 */
export function renderTableFormat(format: string, rows: Value[], headers: Record<string, string>): string | undefined {
  const m = /^table\s*([\s\S]*)$/.exec(format);
  if (!m) return undefined;
  const body = m[1]!.replace(/\\t/g, '\t');
  const t = new GoTemplate(body);
  // every field of the header row is its column name (a method too, for {{.Label "key"}})
  const name = (k: string | symbol) => headers[String(k)] ?? String(k).toUpperCase();
  const header = t.execute(new Proxy({}, { has: () => true, get: (_o, k) => () => name(k) }));
  return formatTable(
    header.split('\t'),
    rows.map((r) => t.execute(r).split('\t')),
  );
}

/** `--format` of a listing (ps, images): a `table …`, one line per row, or `json`. */
export function renderFormat(format: string, rows: Value[], headers: Record<string, string>): string {
  return renderTableFormat(format, rows, headers) ?? renderRows(format, rows);
}

/** Docker's non-table formats: each row through the template ("\t" in the format is a tab), or `json`. */
export function renderRows(format: string, rows: Value[]): string {
  if (format === 'json') return rows.map((r) => JSON.stringify(r)).join('\n');
  const t = new GoTemplate(format.replace(/\\t/g, '\t').replace(/\\n/g, '\n'));
  return rows.map((r) => t.execute(r)).join('\n');
}

/** Go's time.Time String() in UTC, as Docker prints CreatedAt: "2026-11-25 20:01:02 +0000 UTC". */
export function goTime(iso: string): string {
  const d = new Date(iso);
  return Number.isFinite(d.getTime()) ? `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC` : '';
}
