import { TvctlError } from '../errors.js';

/** What the splitter needs to know of a flag definition. */
export interface FlagShape {
  char?: string;
  takesValue: boolean;
}

/**
 * Splits `tvctl run [FLAGS] IMAGE [CMD ARG...]` the way Docker does: options end at the first positional
 * (the image); everything after it is the container's command, even when it looks like a flag
 * (`run demo sh -c 'ls -l'`). Grouped short flags (`-it`, `-dp 80:80`) are expanded.
 */
export function splitRunArgv(
  argv: readonly string[],
  flags: Readonly<Record<string, FlagShape>>,
): { head: string[]; image: string | undefined; cmd: string[] } {
  const byChar = new Map<string, string>();
  for (const [name, f] of Object.entries(flags)) if (f.char) byChar.set(f.char, name);
  // Every option comes out as `--name` or `--name=value`, so that oclif's greedy multi-value flags
  // (`--cap-add X IMAGE` would swallow IMAGE) see exactly one value each.
  const head: string[] = [];
  const push = (name: string, value?: string): void => {
    head.push(value === undefined ? `--${name}` : `--${name}=${value}`);
  };
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') return { head, image: argv[i + 1], cmd: argv.slice(i + 2) };
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = tok.slice(2, eq < 0 ? undefined : eq);
      const f = flags[name];
      if (!f)
        head.push(tok); // unknown: let the parser report it
      else if (!f.takesValue || eq >= 0) head.push(tok);
      else if (i + 1 >= argv.length) throw new TvctlError('BAD_USAGE', `flag needs an argument: --${name}`);
      else push(name, argv[++i]!);
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1) {
      // Grouped short flags: booleans until one takes a value, which eats the rest or the next token.
      for (let j = 1; j < tok.length; j++) {
        const ch = tok[j]!;
        const name = byChar.get(ch);
        if (name === undefined) {
          head.push(`-${ch}`);
          continue;
        }
        if (!flags[name]!.takesValue) {
          push(name);
          continue;
        }
        const rest = tok.slice(j + 1);
        if (rest) push(name, rest);
        else if (i + 1 < argv.length) push(name, argv[++i]!);
        else throw new TvctlError('BAD_USAGE', `flag needs an argument: -${ch}`);
        break;
      }
      continue;
    }
    return { head, image: tok, cmd: argv.slice(i + 1) };
  }
  return { head, image: undefined, cmd: [] };
}

/** The argv handed to oclif: normalized options, then `--` and the image. */
export function parserArgv(split: { head: string[]; image: string | undefined }): string[] {
  return split.image === undefined ? split.head : [...split.head, '--', split.image];
}

/** Derives FlagShape from oclif flag definitions (`type: 'boolean' | 'option'`). */
export function flagShapes(
  defs: Record<string, { type: string; char?: string | undefined; aliases?: string[] | undefined }>,
): Record<string, FlagShape> {
  const out: Record<string, FlagShape> = {};
  for (const [name, d] of Object.entries(defs)) {
    const shape = { takesValue: d.type === 'option', ...(d.char ? { char: d.char } : {}) };
    out[name] = shape;
    for (const a of d.aliases ?? []) out[a] = { takesValue: shape.takesValue };
  }
  return out;
}
