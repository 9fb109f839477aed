/** The shards component's public surface for other components (the gateway routes with it). */
export { ShardDirectory, ownerOf, type ShardInfo } from './directory.js';
export { MAX_TEXT, MAX_GROUP_MEMBERS } from './actor.js';
