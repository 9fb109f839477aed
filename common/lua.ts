/**
 * Loads a Redis Lua script that lives in a `lua/` folder beside the calling
 * module (the build copies those folders into dist/). File names end in the
 * number of keys the script takes (`-1`, `-2`) or `-n` for a variable count.
 */
import { readFileSync } from 'node:fs';

export function loadLua(moduleUrl: string, name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, moduleUrl), 'utf8');
}
