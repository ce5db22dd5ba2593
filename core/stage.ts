/**
 * Stage commits: a stage's outputs live under a folder named by its fingerprint, and count as
 * done only once `_SUCCESS` (holding the stage's summary) has been written, last.
 */
import type { Storage } from './storage';

export const SUCCESS_MARKER = '_SUCCESS';

export async function readCommitted<T>(storage: Storage, stageDir: string): Promise<T | null> {
  const marker = await storage.readIfPresent(`${stageDir}/${SUCCESS_MARKER}`);
  return marker ? (JSON.parse(marker.toString('utf8')) as T) : null;
}

export async function commitStage<T>(
  storage: Storage,
  stageDir: string,
  files: Record<string, Uint8Array | string>,
  summary: T,
): Promise<T> {
  for (const [name, data] of Object.entries(files)) await storage.write(`${stageDir}/${name}`, data);
  await storage.write(`${stageDir}/${SUCCESS_MARKER}`, JSON.stringify(summary, null, 2));
  return summary;
}
