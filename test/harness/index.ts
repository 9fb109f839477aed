/** The end-to-end test harness: real Redis, real service processes, HTTP and WebSocket clients. */
export { startRedis, type RedisServer, type StartRedisOptions } from './redis.js';
export {
  startCluster,
  cleanEnv,
  TEST_ENV,
  type Cluster,
  type ExitStatus,
  type GatewayProcess,
  type GrpcProcess,
  type ServiceKind,
  type ServiceProcess,
  type StartClusterOptions,
} from './cluster.js';
export {
  api,
  connectWs,
  expectUpgradeRefused,
  uniqueLogin,
  UpgradeRefused,
  DEFAULT_PASSWORD,
  type Api,
  type ApiResponse,
  type ChatRef,
  type CloseInfo,
  type EventMatch,
  type EventPayload,
  type RequestOptions,
  type Session,
  type WsClient,
  type WsEvent,
  type WsOptions,
} from './client.js';
export type { TestLike } from './cleanup.js';
export { killChild, spawnModule } from './spawn.js';
