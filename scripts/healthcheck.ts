/**
 * Container healthcheck: exits 0 when the service's ops endpoint (default /readyz) answers 200.
 * Usage: node dist/scripts/healthcheck.js [port] [path]; the port defaults to METRICS_PORT.
 * The image has no curl; Node's fetch is enough.
 */
export {};

const port = Number(process.argv[2] ?? process.env.METRICS_PORT ?? '');
const path = process.argv[3] ?? '/readyz';

if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('healthcheck: set METRICS_PORT (or pass the ops port as the first argument)');
  process.exit(2);
}

// A hung endpoint counts as unhealthy well before Docker's own timeout.
setTimeout(() => {
  console.error(`healthcheck: ${path} did not answer within 2.5 s`);
  process.exit(1);
}, 2500).unref();

try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  if (!res.ok) console.error(`healthcheck: ${path} answered ${res.status}`);
  process.exit(res.ok ? 0 : 1);
} catch (err) {
  console.error(`healthcheck: ${path} unreachable: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
