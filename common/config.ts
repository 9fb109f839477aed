/**
 * Typed configuration, read from environment variables once at boot, validated
 * and frozen. Every key has its variable, a default and one line of docs; the
 * README's configuration table is checked against CONFIG_SPEC by a test.
 * Bad values fail fast with a message naming the variable.
 */
import os from 'node:os';

type Parser<T> = (raw: string, env: string) => T;

interface KeySpec<T> {
  env: string;
  default: T;
  doc: string;
  parse: Parser<T>;
}

function fail(env: string, why: string): never {
  throw new Error(`invalid configuration: ${env} ${why}`);
}

const str: Parser<string> = (raw) => raw;
const int =
  (min: number, max: number): Parser<number> =>
  (raw, env) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max)
      fail(env, `must be an integer in [${min}, ${max}], got "${raw}"`);
    return n;
  };
const bool: Parser<boolean> = (raw, env) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  return fail(env, `must be true or false, got "${raw}"`);
};
const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw, env) =>
    values.includes(raw as T) ? (raw as T) : fail(env, `must be one of ${values.join(', ')}, got "${raw}"`);
const list: Parser<string[]> = (raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const url: Parser<string> = (raw, env) => {
  if (raw === '') return raw;
  try {
    new URL(raw);
  } catch {
    fail(env, `must be a URL, got "${raw}"`);
  }
  return raw;
};

function key<T>(env: string, def: T, parse: Parser<T>, doc: string): KeySpec<T> {
  return { env, default: def, parse, doc };
}

/** Every configuration key of every service. */
export const CONFIG_SPEC = {
  nodeId: key(
    'NODE_ID',
    '',
    str,
    'Unique name of this process in the cluster; defaults to <service>-<hostname>-<pid>.',
  ),
  logLevel: key(
    'LOG_LEVEL',
    'info',
    oneOf('trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'),
    'pino log level.',
  ),
  redisUrl: key(
    'REDIS_URL',
    'redis://127.0.0.1:6379',
    url,
    'Redis for sessions, leases, routing, inbox streams, presence and BullMQ.',
  ),
  redisPrefix: key(
    'REDIS_PREFIX',
    'gm:',
    str,
    'Prefix of every Redis key (lets several clusters share one Redis).',
  ),
  store: key(
    'STORE',
    'sqlite' as 'sqlite' | 'cassandra',
    oneOf('sqlite', 'cassandra'),
    'Message store adapter: embedded SQLite or Cassandra.',
  ),
  sqlitePath: key(
    'SQLITE_PATH',
    './data/gmessenger.db',
    str,
    'SQLite database file (WAL mode; shared by the processes of one machine).',
  ),
  cassandraContactPoints: key(
    'CASSANDRA_CONTACT_POINTS',
    [] as string[],
    list,
    'Comma-separated Cassandra contact points (host or host:port).',
  ),
  cassandraLocalDc: key(
    'CASSANDRA_LOCAL_DC',
    'datacenter1',
    str,
    'Local datacenter name for the driver load-balancing policy.',
  ),
  cassandraKeyspace: key(
    'CASSANDRA_KEYSPACE',
    'gmessenger',
    str,
    'Keyspace; created by the migrations when missing.',
  ),
  cassandraReplication: key(
    'CASSANDRA_REPLICATION',
    'SimpleStrategy:1',
    str,
    'Keyspace replication: "SimpleStrategy:<rf>" or "NetworkTopologyStrategy:<dc>=<rf>[,<dc>=<rf>]".',
  ),
  cassandraConsistency: key(
    'CASSANDRA_CONSISTENCY',
    'LOCAL_QUORUM',
    oneOf('ONE', 'LOCAL_ONE', 'QUORUM', 'LOCAL_QUORUM', 'ALL'),
    'Consistency of reads and writes.',
  ),
  cassandraUsername: key('CASSANDRA_USERNAME', '', str, 'Cassandra user (empty: no authentication).'),
  cassandraPassword: key('CASSANDRA_PASSWORD', '', str, 'Cassandra password.'),
  httpHost: key('HTTP_HOST', '127.0.0.1', str, 'Gateway listen address (0.0.0.0 to accept remote clients).'),
  httpPort: key('HTTP_PORT', 8080, int(0, 65535), 'Gateway HTTP/WebSocket port.'),
  publicOrigin: key(
    'PUBLIC_ORIGIN',
    '',
    str,
    'Origin clients use (e.g. https://chat.example.com); defaults to http://<host>:<port>.',
  ),
  allowedOrigins: key(
    'ALLOWED_ORIGINS',
    [] as string[],
    list,
    "Extra browser origins allowed to open WebSockets and make requests that change state (the server's own origin always is).",
  ),
  gatewayCacheMb: key(
    'GATEWAY_CACHE_MB',
    64,
    int(0, 65536),
    "Memory for each gateway's caches of rendered history pages and the user directory; 0 turns them off.",
  ),
  trustProxy: key(
    'TRUST_PROXY',
    false,
    bool,
    'Trust X-Forwarded-For/-Proto from a load balancer in front of the gateways.',
  ),
  cookieSecure: key(
    'COOKIE_SECURE',
    'auto' as 'auto' | 'true' | 'false',
    oneOf('auto', 'true', 'false'),
    'Secure cookie flag; auto sets it when the request came over TLS.',
  ),
  sessionTtlS: key(
    'SESSION_TTL_S',
    30 * 24 * 3600,
    int(60, 365 * 24 * 3600),
    'Session lifetime in seconds (cookie Max-Age and Redis TTL).',
  ),
  bodyLimitBytes: key(
    'BODY_LIMIT_BYTES',
    64 * 1024,
    int(1024, 16 * 1024 * 1024),
    'Largest accepted HTTP request body (413 above).',
  ),
  wsMaxFrameBytes: key(
    'WS_MAX_FRAME_BYTES',
    // A valid send_message can take 4096 code points × 6 bytes (JSON escapes) plus its envelope.
    32 * 1024,
    int(1024, 1024 * 1024),
    'Largest accepted WebSocket frame (closed with 1009 above).',
  ),
  wsMaxBackpressureBytes: key(
    'WS_MAX_BACKPRESSURE_BYTES',
    1024 * 1024,
    int(16 * 1024, 64 * 1024 * 1024),
    'Buffered bytes after which a slow WebSocket client is dropped.',
  ),
  wsIdleTimeoutS: key(
    'WS_IDLE_TIMEOUT_S',
    120,
    int(8, 960),
    'WebSocket idle timeout; the server pings automatically before it.',
  ),
  webRoot: key('WEB_ROOT', 'web/dist', str, 'Folder of the built web client served at /.'),
  argon2MemoryKiB: key(
    'ARGON2_MEMORY_KIB',
    19456,
    int(8192, 1 << 21),
    'argon2id memory cost (OWASP minimum 19 MiB).',
  ),
  argon2Time: key('ARGON2_TIME', 2, int(1, 20), 'argon2id iterations.'),
  argon2Parallelism: key('ARGON2_PARALLELISM', 1, int(1, 16), 'argon2id lanes.'),
  loginRateLimit: key(
    'LOGIN_RATE_LIMIT',
    10,
    int(1, 100000),
    'Failed-or-not login attempts per login per minute.',
  ),
  loginRateLimitIp: key(
    'LOGIN_RATE_LIMIT_IP',
    100,
    int(1, 1000000),
    'Login attempts per client address per minute.',
  ),
  registerRateLimitIp: key(
    'REGISTER_RATE_LIMIT_IP',
    60,
    int(1, 1000000),
    'Registrations per client address per minute.',
  ),
  sendRateLimit: key(
    'SEND_RATE_LIMIT',
    200,
    int(1, 1000000),
    'Messages a user may send per second (burst twice that).',
  ),
  grpcHost: key('GRPC_HOST', '127.0.0.1', str, 'Listen address of the gRPC server (shard, relay, presence).'),
  grpcPort: key(
    'GRPC_PORT',
    0,
    int(0, 65535),
    'gRPC port; 0 picks the service default (shard 7100, relay 7200, presence 7300).',
  ),
  grpcAdvertise: key(
    'GRPC_ADVERTISE',
    '',
    str,
    'host:port other services use to reach this one; defaults to GRPC_HOST:port.',
  ),
  relayAddr: key('RELAY_ADDR', '127.0.0.1:7200', str, 'Relay gRPC address.'),
  presenceAddr: key('PRESENCE_ADDR', '127.0.0.1:7300', str, 'Presence gRPC address.'),
  metricsHost: key('METRICS_HOST', '127.0.0.1', str, 'Listen address of /metrics, /healthz and /readyz.'),
  metricsPort: key(
    'METRICS_PORT',
    0,
    int(0, 65535),
    'Ops port; 0 picks the service default (gateway 9100, shard 9200, relay 9300, presence 9400).',
  ),
  leaseTtlMs: key(
    'LEASE_TTL_MS',
    5000,
    int(1000, 120000),
    'Shard membership and per-chat lease lifetime; failover happens within about this time.',
  ),
  actorIdleMs: key(
    'ACTOR_IDLE_MS',
    120000,
    int(1000, 24 * 3600 * 1000),
    'A chat actor idle this long is passivated.',
  ),
  inboxMaxLen: key(
    'INBOX_MAXLEN',
    100000,
    int(1000, 10000000),
    'Approximate length cap of each gateway inbox stream.',
  ),
  presenceActiveWindowMs: key(
    'PRESENCE_ACTIVE_WINDOW_MS',
    60000,
    int(1000, 3600000),
    'How long POST /user/active/update keeps a socket-less user online.',
  ),
  presenceDebounceMs: key(
    'PRESENCE_DEBOUNCE_MS',
    1500,
    int(0, 60000),
    'A user who reconnects within this time never appears offline.',
  ),
  gatewayLeaseMs: key(
    'GATEWAY_LEASE_MS',
    5000,
    int(1000, 120000),
    'A gateway that stops heartbeating this long has its connections dropped from presence.',
  ),
  notifyWebhookUrl: key(
    'NOTIFY_WEBHOOK_URL',
    '',
    url,
    'Webhook called for offline recipients (empty: notifications are only counted).',
  ),
  notifyWebhookSecret: key(
    'NOTIFY_WEBHOOK_SECRET',
    '',
    str,
    'HMAC-SHA256 key for the X-Gmessenger-Signature header.',
  ),
  notifyCoalesceMs: key(
    'NOTIFY_COALESCE_MS',
    30000,
    int(0, 24 * 3600 * 1000),
    'At most one notification per recipient and chat per window.',
  ),
  notifyDelayMs: key(
    'NOTIFY_DELAY_MS',
    5000,
    int(0, 3600000),
    'Grace before notifying; recipients who come online or receive the message meanwhile are not notified.',
  ),
  notifyMaxAttempts: key(
    'NOTIFY_MAX_ATTEMPTS',
    6,
    int(1, 100),
    'Webhook attempts before a job moves to the dead-letter queue.',
  ),
  notifyBackoffMs: key(
    'NOTIFY_BACKOFF_MS',
    1000,
    int(10, 3600000),
    'First retry delay; doubles with each attempt.',
  ),
} as const;

type Spec = typeof CONFIG_SPEC;
export type Config = {
  readonly [K in keyof Spec]: Spec[K]['default'] extends infer D
    ? D extends readonly string[]
      ? readonly string[]
      : D
    : never;
};

/** Reads and validates configuration from `env` (process.env by default); throws naming the variable. */
export function loadConfig(service: string, env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(CONFIG_SPEC) as [string, KeySpec<unknown>][]) {
    const raw = env[spec.env];
    out[name] = raw === undefined || raw === '' ? spec.default : spec.parse(raw, spec.env);
  }
  if (!out.nodeId) out.nodeId = `${service}-${os.hostname()}-${process.pid}`;
  if (out.store === 'cassandra' && (out.cassandraContactPoints as string[]).length === 0) {
    fail('CASSANDRA_CONTACT_POINTS', 'must be set when STORE=cassandra');
  }
  return Object.freeze(out) as Config;
}
