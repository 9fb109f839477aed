// The test runner behind `npm test`.
//
//   node scripts/run-tests.mjs --all            lint, typecheck, build, then every test
//   node scripts/run-tests.mjs [filter ...]     build, then the test files whose path (source or dist) contains a filter
//   node scripts/run-tests.mjs --no-build ...   skip the build (dist/ is already fresh)
//
// Tests are the compiled dist/**/*.test.js files (tsconfig compiles *.test.ts into dist/), run by
// node's own test runner, one process per file, TEST_CONCURRENCY files at a time (default 2). Node 20
// applies --test-timeout to each file as a whole: TEST_TIMEOUT_MS (default 600000) bounds a file, and
// tests set their own `timeout` option. Exits with the test runner's status; its summary comes last.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const all = args.includes('--all');
const build = !args.includes('--no-build');
const filters = args.filter((a) => !a.startsWith('--'));
const concurrency = Number(process.env.TEST_CONCURRENCY ?? 2);
const timeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 600_000);

function step(name, command, commandArgs) {
  const started = Date.now();
  console.log(`\n==> ${name}: ${[command, ...commandArgs].join(' ')}`);
  const result = spawnSync(command, commandArgs, { cwd: ROOT, stdio: 'inherit' });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (result.status !== 0) {
    console.log(`==> ${name} failed after ${seconds} s`);
    process.exit(result.status ?? 1);
  }
  console.log(`==> ${name} passed in ${seconds} s`);
}

/** Compiled test files whose source still exists (dist/ may hold leftovers of deleted tests). */
function testFiles() {
  const found = [];
  const walk = (rel) => {
    for (const entry of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
      const child = path.posix.join(rel, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(child);
      } else if (entry.name.endsWith('.test.js')) {
        const source = child.slice('dist/'.length).replace(/\.js$/, '.ts');
        if (fs.existsSync(path.join(ROOT, source))) found.push({ file: child, source });
      }
    }
  };
  if (fs.existsSync(path.join(ROOT, 'dist'))) walk('dist');
  return found.sort((a, b) => a.file.localeCompare(b.file));
}

if (all) {
  step('lint', 'npm', ['run', 'lint']);
  step('typecheck', 'npm', ['run', 'typecheck']);
}
if (build || all) step('build', 'npm', ['run', 'build']);

const files = testFiles()
  .filter(
    (t) =>
      filters.length === 0 || filters.some((filter) => t.file.includes(filter) || t.source.includes(filter)),
  )
  .map((t) => t.file);
if (files.length === 0) {
  console.log(
    filters.length ? `no test file in dist/ matches ${filters.join(', ')}` : 'no test files in dist/',
  );
  process.exit(1);
}
const nodeArgs = [
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${concurrency}`,
  `--test-timeout=${timeoutMs}`,
  ...files,
];
console.log(
  `\n==> tests: ${files.length} file(s), ${concurrency} at a time, ${timeoutMs / 1000} s per file at most`,
);
const result = spawnSync(process.execPath, nodeArgs, { cwd: ROOT, stdio: 'inherit' });
process.exit(result.status ?? 1);
