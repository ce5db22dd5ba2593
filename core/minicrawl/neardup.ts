/**
 * Near-duplicates at a chosen token-set Jaccard. Replacing every occurrence of k distinct tokens
 * of a document (n distinct Spark tokens) with k tokens it does not contain gives exactly
 * J = (n − k) / (n + k); so k = round(n (1 − J) / (1 + J)). The empty token is never replaced.
 */
import { sparkJaccard, tokenSet } from './jaccard';
import { Rng } from './prng';
import { inventedName } from './text';
import { ADJECTIVES, ADVERBS, NOUNS, TOPICS, VERBS_PAST, VERBS_PRESENT } from './vocab';

const POOL = [
  ...NOUNS,
  ...VERBS_PAST,
  ...VERBS_PRESENT,
  ...ADJECTIVES,
  ...ADVERBS,
  ...Object.values(TOPICS).flat(),
];
const SEPARATOR = /([ \t\n\v\f\r])/; // Java's \s, captured

export interface NearDuplicate {
  text: string;
  actualJaccard: number;
}

export function nearDuplicate(rng: Rng, original: string, target: number): NearDuplicate {
  if (!(target > 0 && target < 1)) throw new Error(`target Jaccard must be in (0, 1), got ${target}`);
  const tokens = tokenSet(original);
  const candidates = rng.shuffle([...tokens].filter((t) => t !== ''));
  const k = Math.round((tokens.size * (1 - target)) / (1 + target));
  if (k > candidates.length) throw new Error('document too short for the target Jaccard');
  const used = new Set(tokens);
  const fresh = rng.shuffle(POOL.filter((w) => !tokens.has(w)));
  const replace = new Map<string, string>();
  for (const token of candidates.slice(0, k)) {
    const [, prefix = '', , suffix = ''] = /^([^a-z0-9]*)(.*?)([^a-z0-9]*)$/u.exec(token) ?? [];
    let replacement = '';
    do {
      const word = fresh.pop() ?? inventedName(rng).toLowerCase();
      replacement = `${prefix}${word}${suffix}`;
    } while (used.has(replacement));
    used.add(replacement);
    replace.set(token, replacement);
  }
  const text = original
    .split(SEPARATOR)
    .map((piece, i) => {
      if (i % 2 === 1) return piece;
      const replacement = replace.get(piece.toLowerCase());
      if (replacement === undefined) return piece;
      return piece.charAt(0) !== piece.charAt(0).toLowerCase()
        ? replacement.charAt(0).toUpperCase() + replacement.slice(1)
        : replacement;
    })
    .join('');
  return { text, actualJaccard: sparkJaccard(original, text) };
}
