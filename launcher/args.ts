/** Command line of `npm start` (launcher/main.ts). */

export interface LauncherOptions {
  /** @default 1 */
  gateways: number;
  /** @default 1 */
  shards: number;
  /** Gateway HTTP/WebSocket port, shared by all gateways (SO_REUSEPORT). @default 8080 */
  port: number;
  /** Gateway listen address. @default '127.0.0.1' */
  host: string;
  /** Folder for the SQLite database and Redis's AOF. @default './data' */
  data: string;
  /** How long every process may take to report ready. @default 60000 */
  readyTimeoutMs: number;
  /**
   * Message store. 'cassandra' uses CASSANDRA_CONTACT_POINTS when set, else starts a local Cassandra node
   * (data under `<data>/cassandra`). @default 'sqlite'
   */
  store: 'sqlite' | 'cassandra';
  help: boolean;
}

export const USAGE = `Usage: npm start -- [options]

Starts redis-server, relay, presence, shards and gateways on this machine.

Options:
  --gateways N        gateway processes, all on the same port (default 1)
  --shards N          shard processes (default 1)
  --port P            HTTP/WebSocket port (default 8080)
  --host H            listen address of the gateways (default 127.0.0.1; 0.0.0.0 for remote clients)
  --data DIR          database and Redis files (default ./data)
  --ready-timeout S   seconds each process may take to become ready (default 60)
  --store S           sqlite (default) or cassandra: with no CASSANDRA_CONTACT_POINTS, a local
                      Cassandra 5.0 node is started (needs Java 17 and Maven; data in DIR/cassandra)
  -h, --help          show this help

Environment: REDIS_URL uses that Redis instead of starting one; STORE=cassandra
is the same as --store cassandra, CASSANDRA_CONTACT_POINTS names an existing
cluster (see README, "Scaling out"); every other
service variable (see README) is passed through to the services.`;

function int(flag: string, raw: string | undefined, min: number, max: number): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new Error(
      `${flag} must be an integer in [${min}, ${max}], got ${raw === undefined ? 'nothing' : `"${raw}"`}`,
    );
  }
  return n;
}

/** Parses `--flag value` and `--flag=value`; throws with a message naming the bad flag. */
export function parseArgs(argv: readonly string[]): LauncherOptions {
  const options: LauncherOptions = {
    gateways: 1,
    shards: 1,
    port: 8080,
    host: '127.0.0.1',
    data: './data',
    readyTimeoutMs: 60_000,
    store: process.env.STORE === 'cassandra' ? 'cassandra' : 'sqlite',
    help: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') {
      options.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    switch (flag) {
      case '--gateways':
        options.gateways = int(flag, value, 1, 64);
        break;
      case '--shards':
        options.shards = int(flag, value, 1, 64);
        break;
      case '--port':
        options.port = int(flag, value, 1, 65535);
        break;
      case '--host':
        if (!value) throw new Error('--host needs an address');
        options.host = value;
        break;
      case '--data':
        if (!value) throw new Error('--data needs a folder');
        options.data = value;
        break;
      case '--store':
        if (value !== 'sqlite' && value !== 'cassandra') {
          throw new Error(
            `--store must be sqlite or cassandra, got ${value === undefined ? 'nothing' : `"${value}"`}`,
          );
        }
        options.store = value;
        break;
      case '--ready-timeout':
        options.readyTimeoutMs = int(flag, value, 1, 3600) * 1000;
        break;
      default:
        throw new Error(`unknown option ${arg}`);
    }
  }
  return options;
}
