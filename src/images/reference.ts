import { TvctlError } from '../errors.js';

export interface ImageRef {
  name: string;
  tag: string;
}

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;

/** Splits NAME[:TAG] (tag defaults to latest); a registry host may carry a :port. Digests are not accepted. */
export function parseRef(ref: string): ImageRef {
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  let name = ref;
  let tag = 'latest';
  if (colon > slash) {
    name = ref.slice(0, colon);
    tag = ref.slice(colon + 1);
  }
  if (!NAME_RE.test(name) || name.length > 255) {
    throw new TvctlError(
      'BAD_REFERENCE',
      `invalid image name "${ref}": use lowercase letters, digits and . _ - / (e.g. demo or my/app:1.0)`,
    );
  }
  if (!TAG_RE.test(tag))
    throw new TvctlError('BAD_REFERENCE', `invalid tag in "${ref}": up to 128 of letters, digits, _ . -`);
  return { name, tag };
}

export function formatRef(r: ImageRef): string {
  return `${r.name}:${r.tag}`;
}

/** Parses a stored repo tag "name:tag" back (no validation). */
export function splitRepoTag(t: string): ImageRef {
  const slash = t.lastIndexOf('/');
  const colon = t.lastIndexOf(':');
  return colon > slash ? { name: t.slice(0, colon), tag: t.slice(colon + 1) } : { name: t, tag: 'latest' };
}

/** The hex part of a sha256 digest; any other digest is refused. */
export function digestHex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new TvctlError('BAD_DIGEST', `unsupported digest "${digest}" (only sha256 is supported)`);
  return m[1]!;
}

export function shortImageId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
