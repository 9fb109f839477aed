/**
 * The shards component's public surface for other components: the gateway routes every chat operation
 * with `ShardClient` (over `ShardService.Exchange`) to the owner `ShardDirectory` names.
 */
export { ShardClient, type ShardOp, type ShardResult } from './client.js';
export { ShardDirectory, ownerOf, type ShardInfo } from './directory.js';
