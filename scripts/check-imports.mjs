// The import-graph check of `npm run lint`: reads the import statements of the TypeScript sources
// (no dependencies) and fails when
//   - a component imports another component's internals instead of its index.ts;
//   - common/ or proto/ imports a service (they are the shared kernel every component builds on);
//   - the modules, or the components, import each other in a cycle.
//
// Components are the top-level folders below. common/ (config, errors, logging, metrics, ids, the API's
// limits) and proto/ (the generated gRPC contracts and their bridge) are libraries of one-concept modules:
// each module is importable as it is (STYLE.md: "through its public index.ts or through proto/"). Every other
// component is reached only through its index.ts. Tests (`*.test.ts`, test/, `testing/` folders), the
// benchmarks (bench/) and command-line scripts (scripts/) may import anything; cycles count everywhere.
//
//   node scripts/check-imports.mjs            prints the violations, exits 1 when there are any
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const COMPONENTS = [
  'common',
  'proto',
  'store',
  'shards',
  'gateway',
  'relay',
  'presence',
  'delivery',
  'launcher',
];
const OPEN = new Set(['common', 'proto']);
const KERNEL = new Set(['common', 'proto']);
const TOOLS = ['test', 'bench', 'scripts'];
const SKIP_DIRS = new Set(['node_modules', 'dist', 'results', 'k6']);

/** Every .ts/.mjs source below the checked folders, as paths relative to the root. */
function sources() {
  const out = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) {
        if (!SKIP_DIRS.has(entry.name)) walk(child);
      } else if (/\.(ts|mts|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) {
        out.push(child);
      }
    }
  };
  for (const dir of [...COMPONENTS, ...TOOLS]) if (fs.existsSync(path.join(ROOT, dir))) walk(dir);
  return out.sort();
}

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s+(type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** The relative imports of one file: the resolved target and whether the import is for types only. */
function importsOf(file) {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|^\s*\/\/.*$/gm, '');
  const out = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[2] ?? m[3];
    if (!spec || !spec.startsWith('.')) continue;
    const target = resolve(file, spec);
    if (target) out.push({ target, typeOnly: Boolean(m[1]), spec });
  }
  return out;
}

function resolve(from, spec) {
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
  const candidates = [base, base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`];
  return candidates.find(
    (c) => fs.existsSync(path.join(ROOT, c)) && fs.statSync(path.join(ROOT, c)).isFile(),
  );
}

const componentOf = (file) => file.split('/')[0];
const isFree = (file) =>
  TOOLS.includes(componentOf(file)) || /\.test\.m?ts$/.test(file) || file.split('/').includes('testing');

const files = sources();
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const problems = [];

for (const [file, imports] of graph) {
  if (isFree(file)) continue;
  const from = componentOf(file);
  for (const { target, spec } of imports) {
    const to = componentOf(target);
    if (to === from || !COMPONENTS.includes(to)) continue;
    if (KERNEL.has(from) && !KERNEL.has(to)) {
      problems.push(`${file}: ${from}/ must not import ${to}/ ('${spec}')`);
    } else if (!OPEN.has(to) && target !== `${to}/index.ts`) {
      problems.push(`${file}: imports ${target}, an internal of ${to}/: import ${to}/index.js ('${spec}')`);
    }
  }
}

/** Cycles of a directed graph (one per strongly connected component), each as a path that closes. */
function cycles(nodes, edges) {
  const index = new Map();
  const low = new Map();
  const onStack = new Set();
  const stack = [];
  const found = [];
  let next = 0;
  const visit = (v) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || edges(v).includes(v)) found.push(pathThrough(new Set(scc), v, edges));
  };
  for (const v of nodes) if (!index.has(v)) visit(v);
  return found;
}

/** A shortest cycle from `start` back to it inside `members` (breadth first). */
function pathThrough(members, start, edges) {
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of edges(v)) {
      if (!members.has(w)) continue;
      if (w === start) {
        const chain = [v];
        while (previous.get(chain[0]) !== null) chain.unshift(previous.get(chain[0]));
        return [...chain, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

// Module cycles: runtime imports only (a type-only import is erased by the compiler).
const runtime = (f) => (graph.get(f) ?? []).filter((i) => !i.typeOnly).map((i) => i.target);
for (const c of cycles(files, runtime)) problems.push(`import cycle: ${c.join(' -> ')}`);

// Component cycles, from the components' own code (tests and tools excluded), types included.
const componentEdges = new Map(COMPONENTS.map((c) => [c, new Set()]));
for (const [file, imports] of graph) {
  if (isFree(file) || !COMPONENTS.includes(componentOf(file))) continue;
  for (const { target } of imports) {
    const to = componentOf(target);
    if (to !== componentOf(file) && COMPONENTS.includes(to)) componentEdges.get(componentOf(file)).add(to);
  }
}
for (const c of cycles(COMPONENTS, (v) => [...componentEdges.get(v)])) {
  problems.push(`component cycle: ${c.join(' -> ')}`);
}

if (problems.length > 0) {
  console.error(`import graph: ${problems.length} problem(s)`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
const edges = [...componentEdges].map(([c, to]) => `${c} -> ${[...to].sort().join(', ') || '(none)'}`);
console.log(`import graph: ${files.length} files, no cycles, components through their index.ts`);
if (process.argv.includes('--components')) for (const e of edges) console.log(`  ${e}`);
