/**
 * A local Apache Cassandra 5.0 node without Docker or the tarball: the
 * `cassandra-all` jars from Maven Central (fetched once into a cache folder
 * outside git and reused), a minimal `cassandra.yaml` on loopback ports, and
 * `CassandraDaemon` started directly with the JVM flags Java 17 needs (the
 * `--add-exports`/`--add-opens` of Cassandra's conf/jvm17-server.options and
 * jamm as agent). Ready when CQL answers `SELECT release_version FROM
 * system.local`. Used by `npm start -- --store cassandra`, by `npm test`
 * (one node per run, shared by every test file through per-cluster
 * keyspaces) and by `npm run bench -- --store cassandra`.
 *
 * The commit log is synced before every write is acknowledged
 * (`commitlog_sync: batch`) unless `commitlogSync: 'periodic'` is asked for:
 * the durability tests need the former.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'cassandra-driver';
import { anyFreePort, portIsFree } from './ports.js';

/** The Cassandra release the project runs and tests against (docker-compose.yml pins the same). */
export const CASSANDRA_VERSION = '5.0.8';

/** Where the jars are kept: $GM_CASSANDRA_CACHE, else ~/.cache/gmessenger/cassandra. */
export function defaultCassandraCache(): string {
  return process.env.GM_CASSANDRA_CACHE || path.join(os.homedir(), '.cache', 'gmessenger', 'cassandra');
}

export interface CassandraNodeOptions {
  /** @default CASSANDRA_VERSION */
  version?: string;
  /** Folder holding `<version>/lib`. @default defaultCassandraCache() */
  cacheDir?: string;
  /** Data, commit log and logs; kept at stop. When omitted a temp dir is used and removed at stop. */
  dataDir?: string;
  /** CQL port; a free one when omitted or taken. */
  nativePort?: number;
  /** Internode port; a free one when omitted or taken. */
  storagePort?: number;
  /** 'batch': fsync before each write is acknowledged. @default 'batch' */
  commitlogSync?: 'batch' | 'periodic';
  /** JVM heap. @default 768 */
  heapMb?: number;
  /** How long the node may take to answer CQL. @default 180000 */
  startTimeoutMs?: number;
  /** Progress lines (fetching jars, starting, ready). */
  log?: (line: string) => void;
}

export interface CassandraNode {
  /** `127.0.0.1:<port>`, for CASSANDRA_CONTACT_POINTS. */
  readonly contactPoint: string;
  readonly nativePort: number;
  /** `release_version` of system.local, e.g. 5.0.8. */
  readonly releaseVersion: string;
  /** The datacenter of SimpleSnitch, for CASSANDRA_LOCAL_DC. */
  readonly localDataCenter: string;
  readonly pid: number | undefined;
  /** The node's own log (stdout and stderr of the JVM). */
  readonly logFile: string;
  readonly dataDir: string;
  /** Ends the JVM: SIGTERM with a grace period (a kept data dir), SIGKILL for a throwaway one. Idempotent. */
  stop(): Promise<void>;
}

/**
 * The one-line reason why a node cannot be started here (no `java`, Java
 * older than 11 or newer than 17, no `mvn` while the jars are not cached), or
 * null when it can.
 */
export function cassandraPrerequisites(
  options: Pick<CassandraNodeOptions, 'version' | 'cacheDir'> = {},
): string | null {
  const java = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (java.error)
    return 'java is not on PATH: Cassandra 5.0 needs Java 11 or 17 (Debian: apt-get install -y openjdk-17-jre-headless)';
  const banner = `${java.stderr}${java.stdout}`;
  const major = Number(/version "(\d+)(?:\.(\d+))?/.exec(banner)?.[1] ?? 0);
  const effective = major === 1 ? Number(/version "1\.(\d+)/.exec(banner)?.[1] ?? 0) : major;
  if (effective !== 11 && effective !== 17) {
    return `java on PATH is version ${effective || 'unknown'}; Cassandra 5.0 runs on Java 11 or 17`;
  }
  if (jarsPresent(libDir(options))) return null;
  const mvn = spawnSync('mvn', ['-v'], { encoding: 'utf8' });
  if (mvn.error)
    return 'mvn is not on PATH and the Cassandra jars are not cached: install Maven (Debian: apt-get install -y maven)';
  return null;
}

function libDir(options: Pick<CassandraNodeOptions, 'version' | 'cacheDir'>): string {
  return path.join(options.cacheDir ?? defaultCassandraCache(), options.version ?? CASSANDRA_VERSION, 'lib');
}

function jarsPresent(lib: string): boolean {
  return fs.existsSync(path.join(lib, '.complete'));
}

/**
 * Makes sure `<cache>/<version>/lib` holds cassandra-all and its dependencies,
 * fetching them with Maven (`dependency:copy-dependencies`) when missing.
 * Returns the lib folder.
 */
export function ensureCassandraJars(
  options: Pick<CassandraNodeOptions, 'version' | 'cacheDir' | 'log'> = {},
): string {
  const version = options.version ?? CASSANDRA_VERSION;
  const lib = libDir(options);
  if (jarsPresent(lib)) return lib;
  const work = path.dirname(lib);
  fs.mkdirSync(work, { recursive: true });
  fs.rmSync(lib, { recursive: true, force: true });
  fs.writeFileSync(
    path.join(work, 'pom.xml'),
    `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>gmessenger.local</groupId>
  <artifactId>cassandra-node</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.cassandra</groupId>
      <artifactId>cassandra-all</artifactId>
      <version>${version}</version>
    </dependency>
  </dependencies>
</project>
`,
  );
  options.log?.(`fetching cassandra-all ${version} and its dependencies with Maven into ${lib}`);
  const result = spawnSync(
    'mvn',
    [
      '-q',
      '-B',
      '-f',
      path.join(work, 'pom.xml'),
      'org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies',
      `-DoutputDirectory=${lib}`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  );
  if (result.error || result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(
      `fetching cassandra-all ${version} with Maven failed (exit ${result.status}):\n${output}`,
    );
  }
  if (!fs.existsSync(path.join(lib, `cassandra-all-${version}.jar`))) {
    throw new Error(`Maven finished but ${lib} has no cassandra-all-${version}.jar`);
  }
  fs.writeFileSync(path.join(lib, '.complete'), `${version}\n`);
  return lib;
}

/** Module flags of Cassandra 5.0's conf/jvm17-server.options (plus the three opens its scripts add). */
const ADD_EXPORTS = [
  'java.base/jdk.internal.misc',
  'java.management.rmi/com.sun.jmx.remote.internal.rmi',
  'java.rmi/sun.rmi.registry',
  'java.rmi/sun.rmi.server',
  'java.sql/java.sql',
  'java.base/java.lang.ref',
  'jdk.unsupported/sun.misc',
  'jdk.compiler/com.sun.tools.javac.file',
  'jdk.attach/sun.tools.attach',
];
const ADD_OPENS = [
  'java.base/java.lang.module',
  'java.base/jdk.internal.loader',
  'java.base/jdk.internal.ref',
  'java.base/jdk.internal.reflect',
  'java.base/jdk.internal.math',
  'java.base/jdk.internal.module',
  'java.base/jdk.internal.util.jar',
  'jdk.management/com.sun.management.internal',
  'java.base/sun.nio.ch',
  'java.base/java.io',
  'java.base/java.lang.reflect',
  'jdk.compiler/com.sun.tools.javac',
  'java.base/java.lang',
  'java.base/java.util',
  'java.base/java.nio',
  'java.base/java.util.concurrent',
  'java.base/java.util.concurrent.atomic',
];

/** The single-node configuration: loopback only, one token, Paxos v2, no snapshots on drop. */
export function cassandraYaml(o: {
  dataDir: string;
  nativePort: number;
  storagePort: number;
  commitlogSync: 'batch' | 'periodic';
}): string {
  const d = (name: string) => JSON.stringify(path.join(o.dataDir, name));
  const sync =
    o.commitlogSync === 'batch'
      ? 'commitlog_sync: batch'
      : 'commitlog_sync: periodic\ncommitlog_sync_period: 10000ms';
  return `cluster_name: gmessenger-local
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: ${o.storagePort}
native_transport_port: ${o.nativePort}
start_native_transport: true
${sync}
data_file_directories: [${d('data')}]
commitlog_directory: ${d('commitlog')}
saved_caches_directory: ${d('saved_caches')}
hints_directory: ${d('hints')}
cdc_raw_directory: ${d('cdc_raw')}
auto_snapshot: false
paxos_variant: v2
paxos_state_purging: repaired
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:${o.storagePort}"
`;
}

const LOGBACK = `<configuration>
  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%-5level [%thread] %date{ISO8601} %F:%L - %msg%n</pattern></encoder>
  </appender>
  <logger name="org.apache.cassandra" level="INFO"/>
  <root level="WARN"><appender-ref ref="STDOUT"/></root>
</configuration>
`;

async function pickPort(preferred: number | undefined): Promise<number> {
  if (preferred !== undefined && (await portIsFree(preferred))) return preferred;
  return anyFreePort();
}

function tailOf(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** The pid recorded in `file` when that process is still a running JVM, else null. */
function runningPid(file: string): number | null {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('CassandraDaemon') ? pid : null;
  } catch {
    return pid;
  }
}

/** Asks the node for its release version; null while CQL does not answer. */
async function releaseVersion(port: number): Promise<string | null> {
  const client = new Client({
    contactPoints: [`127.0.0.1:${port}`],
    localDataCenter: 'datacenter1',
    socketOptions: { connectTimeout: 2000, readTimeout: 5000 },
  });
  try {
    await client.connect();
    const row = (await client.execute('SELECT release_version FROM system.local')).first();
    return String(row?.get('release_version') ?? '');
  } catch {
    return null;
  } finally {
    await client.shutdown().catch(() => undefined);
  }
}

function exitOf(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

/** Fetches the jars when needed, starts one node and resolves once CQL answers. */
export async function startCassandraNode(options: CassandraNodeOptions = {}): Promise<CassandraNode> {
  const reason = cassandraPrerequisites(options);
  if (reason) throw new Error(`cannot start a local Cassandra node: ${reason}`);
  const lib = ensureCassandraJars(options);
  const throwaway = options.dataDir === undefined;
  const dataDir = options.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'gm-cassandra-'));
  fs.mkdirSync(dataDir, { recursive: true });
  const pidFile = path.join(dataDir, 'cassandra.pid');
  const earlier = runningPid(pidFile);
  if (earlier !== null) {
    throw new Error(
      `a Cassandra node of an earlier run still uses ${dataDir} (pid ${earlier}); stop it (kill ${earlier}) and start again`,
    );
  }
  const confDir = path.join(dataDir, 'conf');
  fs.mkdirSync(confDir, { recursive: true });
  const nativePort = await pickPort(options.nativePort);
  let storagePort = await pickPort(options.storagePort);
  while (storagePort === nativePort) storagePort = await anyFreePort();
  const yamlFile = path.join(confDir, 'cassandra.yaml');
  fs.writeFileSync(
    yamlFile,
    cassandraYaml({ dataDir, nativePort, storagePort, commitlogSync: options.commitlogSync ?? 'batch' }),
  );
  fs.writeFileSync(path.join(confDir, 'logback.xml'), LOGBACK);
  const logFile = path.join(dataDir, 'cassandra.log');
  const heap = options.heapMb ?? 768;
  const jamm = fs.readdirSync(lib).find((f) => /^jamm-.*\.jar$/.test(f));
  if (!jamm) throw new Error(`${lib} has no jamm jar`);
  const args = [
    ...ADD_EXPORTS.flatMap((m) => ['--add-exports', `${m}=ALL-UNNAMED`]),
    ...ADD_OPENS.flatMap((m) => ['--add-opens', `${m}=ALL-UNNAMED`]),
    `-Xms${heap}m`,
    `-Xmx${heap}m`,
    '-Xss512k',
    '-XX:+UseG1GC',
    '-XX:+ExitOnOutOfMemoryError',
    `-javaagent:${path.join(lib, jamm)}`,
    `-Xbootclasspath/a:${path.join(lib, jamm)}`,
    '-Djdk.attach.allowAttachSelf=true',
    '-ea',
    '-da:net.openhft...',
    '-Djava.net.preferIPv4Stack=true',
    '-Dio.netty.tryReflectionSetAccessible=true',
    '-Dcassandra-foreground=yes',
    `-Dcassandra.config=file://${yamlFile}`,
    `-Dcassandra.storagedir=${dataDir}`,
    `-Dcassandra.logdir=${dataDir}`,
    '-Dcassandra.skip_wait_for_gossip_to_settle=0',
    '-Dcassandra.ring_delay_ms=1000',
    '-cp',
    `${confDir}${path.delimiter}${path.join(lib, '*')}`,
    'org.apache.cassandra.service.CassandraDaemon',
  ];
  const version = options.version ?? CASSANDRA_VERSION;
  options.log?.(`starting Cassandra ${version} on 127.0.0.1:${nativePort} (data in ${dataDir})`);
  const out = fs.openSync(logFile, 'a');
  const child = spawn('java', args, { stdio: ['ignore', out, out], detached: false });
  fs.closeSync(out);
  if (child.pid !== undefined) fs.writeFileSync(pidFile, `${child.pid}\n`);
  const exited = exitOf(child);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return exited;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(throwaway ? 'SIGKILL' : 'SIGTERM');
      const grace = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(grace);
    }
    fs.rmSync(pidFile, { force: true });
    if (throwaway) fs.rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 180_000);
  const started = Date.now();
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const how = child.signalCode
        ? `was killed by ${child.signalCode}`
        : `exited with code ${child.exitCode}`;
      const last = tailOf(logFile, 30);
      await stop();
      throw new Error(`Cassandra ${how} before CQL answered; last lines of ${logFile}:\n${last}`);
    }
    const release = await releaseVersion(nativePort);
    if (release) {
      options.log?.(
        `Cassandra ${release} ready on 127.0.0.1:${nativePort} after ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      return {
        contactPoint: `127.0.0.1:${nativePort}`,
        nativePort,
        releaseVersion: release,
        localDataCenter: 'datacenter1',
        get pid() {
          return child.pid;
        },
        logFile,
        dataDir,
        stop,
      };
    }
    if (Date.now() > deadline) {
      const last = tailOf(logFile, 30);
      await stop();
      throw new Error(
        `Cassandra did not answer CQL within ${options.startTimeoutMs ?? 180_000} ms; last lines:\n${last}`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
