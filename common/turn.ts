/**
 * The one-turn batcher: work asked for any number of times during one
 * event-loop turn runs once, at the end of the turn (setImmediate), so
 * everything the turn queued is handled together — one frame on a gRPC stream,
 * one corked socket write, one store transaction, one Redis pipeline.
 */

/** Runs `run` once at the end of the current event-loop turn, however often `schedule` is called before. */
export class OneTurn {
  private scheduled = false;
  private readonly fire = (): void => {
    this.scheduled = false;
    this.run();
  };

  constructor(private readonly run: () => void) {}

  /** True between `schedule` and the run. */
  get pending(): boolean {
    return this.scheduled;
  }

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.fire);
  }
}

/** Collects items during one event-loop turn and hands them to `flush` together, in the order added. */
export class TurnBatch<T> {
  private items: T[] = [];
  private readonly turn = new OneTurn(() => {
    const items = this.items;
    this.items = [];
    this.flush(items);
  });

  constructor(private readonly flush: (items: T[]) => void) {}

  add(item: T): void {
    this.items.push(item);
    this.turn.schedule();
  }
}

/**
 * The serial form, for asynchronous flushes (group commit, fan-out): a flush
 * never overlaps the previous one. `schedule` runs `flush` one turn after the
 * flush in flight settled, so whatever was queued meanwhile goes in one batch:
 * under load batches grow by themselves, and an idle caller waits one turn.
 */
export class SerialTurn {
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly flush: () => Promise<void>) {}

  /** True while a flush is asked for and has not started. */
  get pending(): boolean {
    return this.scheduled;
  }

  /** Flushes at the end of a turn, after the flush in flight. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.running = this.running.then(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            this.scheduled = false;
            this.flush().then(resolve, resolve);
          }),
        ),
    );
  }

  /** Flushes as soon as the flush in flight settles, without waiting for the end of a turn (a retry). */
  scheduleNext(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.running = this.running.then(() => {
      this.scheduled = false;
      return this.flush().catch(() => undefined);
    });
  }

  /**
   * Resolves once no flush is asked for or running and `busy()` is false; `wait` is awaited on each
   * round (writes whose replies are still outstanding).
   */
  async drain(busy: () => boolean, wait?: () => Promise<unknown>): Promise<void> {
    while (this.scheduled || busy()) {
      await this.running;
      if (wait) await wait();
      await new Promise((r) => setImmediate(r));
    }
    await this.running;
  }
}
