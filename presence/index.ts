/**
 * Presence: who is online and when users were last seen.
 *
 * - Gateways use `PresenceClient` (socket counts, open dialogs, activity, REST reads).
 * - Delivery (delivery/routes.ts) reads the routing table user → gateways kept here.
 * - Anyone may read presence:state with `readPresence` or over gRPC
 *   (`createPresenceClient`, PresenceService.Get).
 * - The presence service process (presence/main.ts) runs `PresenceEngine`.
 *
 * Redis keys involved (common/keys.ts): gateways, route:{login}, gw-users:{node},
 * gw-watch:{node}, watchers:{login}, presence:events, presence:state,
 * presence:online, presence:active, and the gateways' inboxes gw:{node}.
 */
import { PresenceService } from '../proto/gen/gmessenger/v1/presence_pb.js';
import { createClient } from '../proto/grpc.js';

export { PresenceClient, PRESENCE_EVENTS_MAXLEN, type PresenceClientOptions } from './client.js';
export { PresenceEngine, type PresenceChange, type PresenceEngineOptions } from './engine.js';
export { parseState, readPresence, type PresenceInfo } from './state.js';

/** gRPC client of the presence service (PresenceService.Get). */
export function createPresenceClient(address: string) {
  return createClient(PresenceService, address);
}

export type PresenceGrpcClient = ReturnType<typeof createPresenceClient>;
