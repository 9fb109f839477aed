/**
 * The presence Lua scripts (presence/lua/*.lua, each named with its key count
 * and opening with its KEYS/ARGV/returns contract), registered on an ioredis
 * connection as custom commands so pipelines and NOSCRIPT reloads after a
 * Redis restart are handled by ioredis.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import { loadLua } from '../common/lua.js';

const SCRIPTS = {
  gmPresenceSetRoute: 'set-route-5',
  gmPresenceSetWatch: 'set-watch-2',
  gmPresenceDropNode: 'drop-node-5',
  gmPresenceMarkActive: 'mark-active-3',
  gmPresenceSettle: 'settle-4',
} as const;

export type ScriptName = keyof typeof SCRIPTS;
type Arg = string | number;

const sources = new Map<ScriptName, { lua: string; numberOfKeys: number }>();
function source(name: ScriptName): { lua: string; numberOfKeys: number } {
  let s = sources.get(name);
  if (!s) {
    const file = SCRIPTS[name];
    s = {
      lua: loadLua(import.meta.url, file),
      numberOfKeys: Number(/-(\d+)$/.exec(file)![1]),
    };
    sources.set(name, s);
  }
  return s;
}

const defined = new WeakSet<Redis>();

/** Registers every presence script on `redis` (idempotent per connection). */
export function defineScripts(redis: Redis): void {
  if (defined.has(redis)) return;
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) redis.defineCommand(name, source(name));
  defined.add(redis);
}

/** Runs a script on a connection (after defineScripts). */
export function runScript(
  redis: Redis,
  name: ScriptName,
  keys: readonly string[],
  args: readonly Arg[],
): Promise<unknown> {
  defineScripts(redis);
  const fn = (redis as unknown as Record<ScriptName, (...a: Arg[]) => Promise<unknown>>)[name];
  return fn.call(redis, ...keys, ...args);
}

/** Queues a script on a pipeline made from a connection that has the scripts defined. */
export function queueScript(
  pipeline: ChainableCommander,
  name: ScriptName,
  keys: readonly string[],
  args: readonly Arg[],
): void {
  const fn = (pipeline as unknown as Record<ScriptName, (...a: Arg[]) => ChainableCommander>)[name];
  fn.call(pipeline, ...keys, ...args);
}
