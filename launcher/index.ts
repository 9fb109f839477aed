/**
 * The launcher as a library, for the test harness and the benchmarks: free
 * ports, a local redis-server, the services' entries and environment, and a
 * local Cassandra node. `npm start` itself is launcher/main.ts.
 */
export { anyFreePort, portIsFree, releasePorts, reservePort } from './ports.js';
export { pingRedis, redisServerArgs, waitForRedis, type RedisServerOptions } from './redis-server.js';
export {
  ROOT,
  STOP_ORDER,
  httpStatus,
  serviceEntry,
  serviceEnv,
  waitReady,
  type CassandraWiring,
  type ClusterWiring,
  type ServiceKind,
  type ServicePorts,
  type WaitReadyOptions,
} from './services.js';
export {
  CASSANDRA_VERSION,
  cassandraPrerequisites,
  defaultCassandraCache,
  ensureCassandraJars,
  startCassandraNode,
  type CassandraNode,
  type CassandraNodeOptions,
} from './cassandra-node.js';
export { Supervised, type ChildSpec, type SupervisorEvents } from './supervisor.js';
