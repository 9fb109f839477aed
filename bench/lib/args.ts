/** Command-line flags of the bench tools: `--name value`, `--name=value` and bare `--flag`. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Args {
  /** Words that are not flags, in order. */
  positional: string[];
  has(name: string): boolean;
  string(name: string): string | undefined;
  number(name: string, fallback: number): number;
}

export function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.set(a.slice(2), argv[++i]!);
    else flags.set(a.slice(2), '');
  }
  return {
    positional,
    has: (name) => flags.has(name),
    string: (name) => {
      const v = flags.get(name);
      return v === undefined || v === '' ? undefined : v;
    },
    number: (name, fallback) => {
      const v = flags.get(name);
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (!Number.isFinite(n)) throw new Error(`--${name} must be a number, got "${v}"`);
      return n;
    },
  };
}

/** True when the module at `metaUrl` is the script node was started with. */
export function isMain(metaUrl: string): boolean {
  const script = process.argv[1];
  return script !== undefined && fileURLToPath(metaUrl) === path.resolve(script);
}

/** A message store the local benchmark cluster can run on. */
export type StoreName = 'sqlite' | 'cassandra';

/**
 * The stores of `--store`: absent or `sqlite` runs on SQLite alone;
 * `cassandra` (or `sqlite,cassandra`) runs on SQLite and then again on a
 * local Cassandra node, so that both figures come from the same run.
 */
export function parseStores(raw: string | undefined): StoreName[] {
  const words = (raw ?? 'sqlite')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const w of words) {
    if (w !== 'sqlite' && w !== 'cassandra')
      throw new Error(`--store: unknown store "${w}" (sqlite or cassandra)`);
  }
  return words.includes('cassandra') ? ['sqlite', 'cassandra'] : ['sqlite'];
}
