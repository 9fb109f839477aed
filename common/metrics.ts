/**
 * The metric catalog of every service, on one prom-client registry per
 * process, and the ops HTTP server that exposes /metrics, /healthz and /readyz.
 * Names follow Prometheus conventions (`gm_` prefix, `_total`, `_seconds`);
 * labels are bounded sets (method names, error codes, operation names).
 */
import http from 'node:http';
import client from 'prom-client';

export const registry = new client.Registry();

const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

function counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  return new client.Counter<L>({ name, help, labelNames, registers: [registry] });
}
function gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = []) {
  return new client.Gauge<L>({ name, help, labelNames, registers: [registry] });
}
/**
 * `metric.labels(...)` children cached by their label values (one or two), for hot paths: prom-client
 * otherwise hashes the label object on every `inc` or `observe`.
 */
export function childCache<C>(child: (a: string, b: string) => C): (a: string, b?: string) => C {
  const cache = new Map<string, C>();
  return (a, b = '') => {
    const key = `${a}\u0000${b}`;
    let c = cache.get(key);
    if (!c) cache.set(key, (c = child(a, b)));
    return c;
  };
}

function histogram<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets = latencyBuckets,
) {
  return new client.Histogram<L>({ name, help, labelNames, buckets, registers: [registry] });
}

// gateway
export const wsConnections = gauge('gm_ws_connections', 'Open WebSocket connections on this gateway.');
export const wsEventsReceived = counter('gm_ws_events_received_total', 'Client WebSocket events by type.', [
  'type',
]);
export const wsErrors = counter('gm_ws_errors_total', 'Error events sent to WebSocket clients by code.', [
  'code',
]);
export const wsDropped = counter('gm_ws_dropped_total', 'WebSocket clients dropped by reason.', ['reason']);
export const httpRequests = counter('gm_http_requests_total', 'HTTP requests by route and status class.', [
  'route',
  'status',
]);
export const httpSeconds = histogram('gm_http_request_duration_seconds', 'HTTP request latency by route.', [
  'route',
]);
export const messagesDelivered = counter(
  'gm_messages_delivered_total',
  'new_message events pushed to sockets.',
);
export const deliverySeconds = histogram(
  'gm_delivery_latency_seconds',
  'Time from a message being stored to it being pushed to a recipient socket.',
);
export const inboxEntries = counter('gm_inbox_entries_total', 'Entries read from this gateway inbox stream.');
export const inboxLagSeconds = gauge(
  'gm_inbox_lag_seconds',
  'Age of the newest inbox entry when it was read.',
);
export const loginAttempts = counter('gm_login_attempts_total', 'Login attempts by result.', ['result']);

// shard
export const messagesAccepted = counter(
  'gm_messages_accepted_total',
  'Messages durably stored and acknowledged.',
  ['kind'],
);
export const actorsActive = gauge('gm_actors_active', 'Chat actors currently active on this shard.');
export const actorActivations = counter('gm_actor_activations_total', 'Chat actor activations.');
export const leaseChanges = counter(
  'gm_lease_changes_total',
  'Chat lease events by kind (acquired, lost, released).',
  ['event'],
);
export const shardMembers = gauge('gm_shard_members', 'Live shards seen in the membership set.');
export const streamLength = gauge('gm_stream_length', 'Length of a Redis stream by stream kind.', ['stream']);
export const fanoutEntries = counter('gm_fanout_entries_total', 'Inbox entries written to gateway streams.');

// store
export const storeSeconds = histogram('gm_store_operation_duration_seconds', 'Store latency by operation.', [
  'op',
]);

// grpc
export const grpcServerSeconds = histogram('gm_grpc_server_handling_seconds', 'gRPC server handling time.', [
  'method',
  'code',
]);
export const grpcClientSeconds = histogram('gm_grpc_client_handling_seconds', 'gRPC client call time.', [
  'method',
  'code',
]);

// relay
export const relayQueueDepth = gauge('gm_relay_queue_depth', 'Relay jobs by queue and state.', [
  'queue',
  'state',
]);
export const relayRetries = counter('gm_relay_retries_total', 'Relay job retries by queue.', ['queue']);
export const relayDeadLetters = counter(
  'gm_relay_dead_letters_total',
  'Jobs moved to the dead-letter queue by queue.',
  ['queue'],
);
export const notificationsSent = counter('gm_notifications_total', 'Offline notifications by result.', [
  'result',
]);

// presence
export const presenceOnline = gauge('gm_presence_online_users', 'Users online in the cluster.');
export const presenceChanges = counter(
  'gm_presence_changes_total',
  'Effective presence changes by direction.',
  ['status'],
);

let defaultsCollected = false;
/** Adds the default Node metrics (event loop lag, heap, GC) labelled with the service. */
export function collectDefaults(service: string): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  registry.setDefaultLabels({ service });
  client.collectDefaultMetrics({ register: registry, prefix: 'gm_' });
  // Known label values start at zero so rates exist before the first event.
  for (const result of ['success', 'failure', 'throttled']) loginAttempts.inc({ result }, 0);
  for (const event of ['acquired', 'lost', 'released']) leaseChanges.inc({ event }, 0);
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves /metrics (Prometheus text), /healthz (process alive) and /readyz
 * (200 only while `ready()` is true) on a separate port from client traffic.
 */
export function startOpsServer(host: string, port: number, ready: () => boolean): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500).end();
        },
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else if (path === '/readyz') {
      const ok = ready();
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ready: ok }));
    } else {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end('{"error":{"code":"not_found","message":"not found"}}');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      resolve({
        port: typeof address === 'object' && address ? address.port : port,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}
