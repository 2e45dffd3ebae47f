import { randomBytes } from 'node:crypto';

/** Container IDs are 64 hex chars (as Docker's), shown as 12. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}

const ADJECTIVES = [
  'brave',
  'calm',
  'clever',
  'eager',
  'fervent',
  'gentle',
  'happy',
  'jolly',
  'keen',
  'lucid',
  'modest',
  'nifty',
  'quirky',
  'serene',
  'sharp',
  'stoic',
  'tender',
  'vibrant',
  'wizardly',
  'zealous',
];
const NOUNS = [
  'babbage',
  'curie',
  'dijkstra',
  'einstein',
  'feynman',
  'hopper',
  'kilby',
  'lamport',
  'liskov',
  'lovelace',
  'noether',
  'pike',
  'ritchie',
  'shannon',
  'thompson',
  'torvalds',
  'turing',
  'wozniak',
  'yalow',
  'zuse',
];

/** A Docker-style generated name ("jolly_hopper"); the caller retries on collision. */
export function randomName(): string {
  const b = randomBytes(3);
  const adj = ADJECTIVES[b[0]! % ADJECTIVES.length]!;
  const noun = NOUNS[b[1]! % NOUNS.length]!;
  return `${adj}_${noun}${b[2]! % 4 === 0 ? '' : String(b[2]! % 10)}`;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function isValidName(name: string): boolean {
  return NAME_RE.test(name) && name.length <= 128;
}
