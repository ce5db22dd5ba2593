import { createHash } from 'node:crypto';

/** JSON with object keys sorted, so equal values always serialise to equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Names a stage's output by everything that determines it: its inputs, parameters and the
 * version of the code that writes it. Bump a stage's code version whenever its output changes.
 */
export function stageFingerprint(stage: string, codeVersion: number, inputs: unknown): string {
  return sha256Hex(canonicalJson({ stage, codeVersion, inputs })).slice(0, 16);
}

/** Names a run's config: with the run name it forms the workflow id, and the manifest records it. */
export function configFingerprint(config: unknown): string {
  return sha256Hex(canonicalJson(config)).slice(0, 12);
}
