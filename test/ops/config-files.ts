/**
 * Readers for the deployment files the ops test checks, with no YAML library: the files are
 * block-style YAML of a known shape, read by indentation. `docker-compose config` (when installed)
 * cross-checks the compose reader in the test.
 */
import fs from 'node:fs';

/** One `key: value` line of a block-style YAML file, with the keys of its enclosing mappings. */
interface Entry {
  path: string[];
  value: string;
}

/** Every `key: value` line (list items and block scalars skipped), keyed by its full path. */
function entries(text: string): Entry[] {
  const out: Entry[] = [];
  const stack: { indent: number; key: string }[] = [];
  let scalarIndent = -1;
  for (const raw of text.split('\n')) {
    if (raw.trim() === '' || raw.trimStart().startsWith('#')) continue;
    const indent = raw.length - raw.trimStart().length;
    if (scalarIndent >= 0 && indent > scalarIndent) continue;
    scalarIndent = -1;
    const m = /^(\s*)([A-Za-z0-9_.<-]+):(?:\s+(.*))?$/.exec(raw);
    if (!m) continue;
    while (stack.length && stack[stack.length - 1]!.indent >= indent) stack.pop();
    const key = m[2]!;
    const value = (m[3] ?? '').replace(/\s+#.*$/, '');
    out.push({ path: [...stack.map((s) => s.key), key], value: unquote(value) });
    if (/^[>|][-+]?$/.test(value)) scalarIndent = indent;
    else stack.push({ indent, key });
  }
  return out;
}

function unquote(value: string): string {
  const v = value.trim();
  if (v.length >= 2 && ((v[0] === "'" && v.endsWith("'")) || (v[0] === '"' && v.endsWith('"'))))
    return v.slice(1, -1);
  return v;
}

/** A compose service as far as the ops test cares. */
export interface ComposeService {
  name: string;
  image: string;
  command: string;
  /** Environment after resolving `<<: *anchor` merges. */
  env: Map<string, string>;
}

/** Services of a compose file's text with merged environments (anchors and `<<` merge keys resolved). */
export function readCompose(text: string, source = 'compose file'): ComposeService[] {
  const all = entries(text);
  const anchors = new Map<string, string[]>();
  for (const e of all) {
    const a = /^&([\w-]+)$/.exec(e.value);
    if (a) anchors.set(a[1]!, e.path);
  }
  const same = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);
  /** The `key: value` pairs directly under `path`, merges first so local keys override. */
  const mapping = (path: string[], seen = new Set<string>()): Map<string, string> => {
    const out = new Map<string, string>();
    const own = all.filter((e) => e.path.length === path.length + 1 && same(e.path.slice(0, -1), path));
    for (const e of own) {
      if (e.path.at(-1) !== '<<') continue;
      const name = e.value.replace(/^\*/, '');
      const target = anchors.get(name);
      if (!target) throw new Error(`${source}: unknown anchor *${name}`);
      if (seen.has(name)) throw new Error(`${source}: anchor *${name} merges itself`);
      for (const [k, v] of mapping(target, new Set([...seen, name]))) out.set(k, v);
    }
    for (const e of own) if (e.path.at(-1) !== '<<') out.set(e.path.at(-1)!, e.value);
    return out;
  };
  const services = all.filter((e) => e.path.length === 2 && e.path[0] === 'services').map((e) => e.path[1]!);
  return services.map((name) => {
    const top = mapping(['services', name]);
    const env = new Map<string, string>();
    // `environment: *anchor` (no merge) or a mapping with merges.
    const envValue = top.get('environment') ?? '';
    const alias = /^\*([\w-]+)$/.exec(envValue);
    const envPath = alias ? anchors.get(alias[1]!) : ['services', name, 'environment'];
    if (envPath) for (const [k, v] of mapping(envPath)) env.set(k, v);
    return { name, image: top.get('image') ?? '', command: top.get('command') ?? '', env };
  });
}

/** Static scrape targets per job of a Prometheus config (`targets: ['host:port', ...]` lines). */
export function readScrapeTargets(file: string): Map<string, string[]> {
  const jobs = new Map<string, string[]>();
  let job = '';
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const j = /^\s*-\s*job_name:\s*['"]?([\w-]+)/.exec(line);
    if (j) {
      job = j[1]!;
      jobs.set(job, []);
      continue;
    }
    const t = /^\s*-?\s*targets:\s*\[(.*)\]/.exec(line);
    if (t && job) {
      for (const target of t[1]!.split(',')) jobs.get(job)!.push(unquote(target));
    }
  }
  return jobs;
}

/** `server <name> <host:port>` lines of an HAProxy backend. */
export function readHaproxyServers(file: string, backend: string): { name: string; address: string }[] {
  const out: { name: string; address: string }[] = [];
  let inside = false;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const section = /^(global|defaults|frontend|backend|listen|resolvers)\b\s*(\S*)/.exec(line);
    if (section) {
      inside = section[1] === 'backend' && section[2] === backend;
      continue;
    }
    const s = /^\s+server\s+(\S+)\s+(\S+)/.exec(line);
    if (inside && s) out.push({ name: s[1]!, address: s[2]! });
  }
  return out;
}
