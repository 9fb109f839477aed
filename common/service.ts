/**
 * The life of a service process around its parts: start them, and on SIGTERM
 * or SIGINT close them in order (once) and exit — 0 when every part closed, 1
 * when one failed; a start that fails exits 1 at once.
 */
import type { Logger } from './logger.js';

export interface Closable {
  close(): Promise<void>;
}

/** Starts the parts of service `name` and closes them in the order returned when the process is told to stop. */
export async function runUntilStopped(
  name: string,
  logger: Logger,
  start: () => Promise<Closable[]>,
): Promise<void> {
  let parts: Closable[];
  try {
    parts = await start();
  } catch (err) {
    logger.fatal({ err }, `${name} failed to start`);
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, `${name} stopping`);
    parts
      .reduce((done, part) => done.then(() => part.close()), Promise.resolve())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, `${name} stop failed`);
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
