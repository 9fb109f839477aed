/**
 * Structured JSON logs (pino). Each service makes one root logger bound to
 * `service` and `node`; components take child loggers bound to their context
 * (`conn`, `chat`, `shard`). Messages are lower case; errors go in `err`.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(service: string, node: string, level: string): Logger {
  return pino({
    level,
    base: { service, node },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
