/**
 * Bounded fan-out for per-partition reads and writes: Cassandra prefers many
 * small single-partition requests to one multi-partition `IN`, but a few
 * thousand at once would only queue in the driver.
 */

/** Requests one store call keeps in flight at most. */
export const FANOUT = 64;

/**
 * Maps `items` through `fn` with at most `limit` calls pending; results keep
 * the input order. On a failure no new calls start, the pending ones finish,
 * and the first error is rethrown.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && failures.length === 0) {
      const index = next++;
      try {
        results[index] = await fn(items[index] as T);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return results;
}

/**
 * Runs every task to completion, then rethrows the first failure. Used where
 * writes go to several partitions: the caller learns of a failure only once
 * nothing of the call is still in flight.
 */
export async function settleAll<T>(tasks: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(tasks);
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

/**
 * Runs tasks that share a key one after another, in call order; tasks of
 * different keys run freely. The adapters' read-then-write steps (append's
 * last-id check, raising marks) rely on one writer per chat; this keeps that
 * true for overlapping calls from the same process too.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    const result = previous ? previous.then(task) : task();
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with a task queued or running. */
  get size(): number {
    return this.tails.size;
  }
}
