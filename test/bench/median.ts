/** The middle value (the upper one of an even count) of a bench's repeated measurements. */
export const median = (xs: readonly number[]): number =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
