/**
 * Token-set Jaccard on the classifier's features. Spark's `Tokenizer` is
 * `text.toLowerCase.split("\\s")` in Java: split on every single ASCII whitespace character
 * (so runs of whitespace give empty tokens), keep a leading empty token, drop trailing empty
 * tokens (Java's String.split). The empty token is a real feature (HashingTF hashes it), so it
 * is kept here too. HashingTF's 2^18 buckets can merge tokens; the ground truth ignores that.
 */

// Java's \s: space, \t, \n, \v (\x0B), \f, \r; not JavaScript's Unicode-wide \s.
const JAVA_WHITESPACE = /[ \t\n\v\f\r]/;

export function sparkTokens(text: string): string[] {
  if (text.length === 0) return [''];
  const tokens = text.toLowerCase().split(JAVA_WHITESPACE);
  let end = tokens.length;
  while (end > 0 && tokens[end - 1] === '') end -= 1;
  return tokens.slice(0, end);
}

export function tokenSet(text: string): Set<string> {
  return new Set(sparkTokens(text));
}

export function setJaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  const [small, large] = a.size <= b.size ? [a, b] : [b, a];
  let shared = 0;
  for (const token of small) if (large.has(token)) shared += 1;
  return shared / (a.size + b.size - shared);
}

/** Jaccard of the two texts' Spark token sets. */
export function sparkJaccard(a: string, b: string): number {
  return setJaccard(tokenSet(a), tokenSet(b));
}
