/**
 * Runs `fn` over items with at most `limit` in flight; results keep the items' order.
 * Free of Node built-ins, so workflow code uses it as well as activities.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * `mapWithConcurrency` for work that must not outlive its caller: after the first failure no new
 * item starts, `onFailure` runs once (to abort the calls in flight), and the promise rejects with
 * that first error only when every call already started has finished. (`Promise.all` rejects at
 * once and leaves the other calls running: a download retried meanwhile would write the same
 * partial files as the attempt it replaces.)
 */
export async function mapSettlingOnFailure<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
  onFailure: (error: unknown) => void,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: { error: unknown } | null = null;
  const lane = async (): Promise<void> => {
    while (next < items.length && failed === null) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T, index);
      } catch (error) {
        if (failed !== null) continue;
        failed = { error };
        onFailure(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  if (failed !== null) throw (failed as { error: unknown }).error;
  return results;
}
