/**
 * The k6 scripts run in k6, not in Node, so this checks what can be checked
 * here: each parses as an ES module (`node --check`), and its top level —
 * the options object with scenarios and thresholds built from __ENV —
 * evaluates, with the k6 modules replaced by inert stand-ins that only let
 * the imports resolve (no load is generated and no k6 behaviour is imitated).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** bench/k6 of the repository, found from source (bench/lib) or from the build (dist/bench/lib). */
const dir = (() => {
  let d = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(d, 'package.json'))) d = path.dirname(d);
  return path.join(d, 'bench', 'k6');
})();
const scripts = fs.readdirSync(dir).filter((f) => f.endsWith('.js'));

const STANDINS: Record<string, string> = {
  k6: 'export function check() { return true; }\nexport function sleep() {}\n',
  'k6/http': 'export default { get() {}, post() {}, batch() { return []; } };\n',
  'k6/ws': 'export default { connect() {} };\n',
  'k6/metrics': 'export class Trend { add() {} }\nexport class Counter { add() {} }\n',
  'k6/execution': 'export default { scenario: { iterationInTest: 0 } };\n',
};

function loadable(tmp: string): void {
  for (const [name, source] of Object.entries(STANDINS)) {
    fs.writeFileSync(path.join(tmp, `${name.replace('/', '_')}.mjs`), source);
  }
  for (const f of scripts) {
    const text = fs
      .readFileSync(path.join(dir, f), 'utf8')
      .replace(/from '(k6(?:\/[a-z]+)?)'/g, (_m, mod: string) => `from './${mod.replace('/', '_')}.mjs'`)
      .replace(/from '\.\/lib\.js'/g, "from './lib.mjs'");
    fs.writeFileSync(path.join(tmp, f.replace(/\.js$/, '.mjs')), text);
  }
}

test('every k6 script parses as an ES module', () => {
  assert.ok(scripts.length >= 6, `found ${scripts.join(', ')}`);
  for (const f of scripts) {
    const r = spawnSync(
      process.execPath,
      ['--experimental-default-type=module', '--check', path.join(dir, f)],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
  }
});

test('every k6 script builds its options from __ENV, with scenarios and thresholds', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'k6-scripts-'));
  try {
    loadable(tmp);
    const g = globalThis as { __ENV?: Record<string, string> };
    g.__ENV = {
      BASE_URL: 'http://127.0.0.1:1,http://127.0.0.1:2',
      VUS: '10',
      DURATION: '5s',
      SCENARIO: 'chats',
    };
    for (const f of scripts.filter((s) => s !== 'lib.js')) {
      const mod = (await import(pathToFileURL(path.join(tmp, f.replace(/\.js$/, '.mjs'))).href)) as {
        options?: { scenarios?: Record<string, unknown>; thresholds?: Record<string, string[]> };
        setup?: unknown;
      };
      assert.ok(mod.options?.scenarios && Object.keys(mod.options.scenarios).length > 0, `${f}: scenarios`);
      assert.ok(mod.options.thresholds && Object.keys(mod.options.thresholds).length > 0, `${f}: thresholds`);
      assert.equal(typeof mod.setup, 'function', `${f}: setup()`);
    }
    const lib = (await import(pathToFileURL(path.join(tmp, 'lib.mjs')).href)) as {
      wsBase(i: number): string;
      envSeconds(n: string, d: number): number;
      delayOf(t: string): number;
      stampedText(n: number): string;
      clientId(vu: number, seq: number): string;
    };
    assert.equal(lib.wsBase(1), 'ws://127.0.0.1:2');
    assert.equal(lib.envSeconds('DURATION', 1), 5);
    assert.match(lib.clientId(3, 17), /^[0-9a-f]{8}-0000-4000-8000-[0-9a-f]{12}$/);
    const d = lib.delayOf(lib.stampedText(64));
    assert.ok(d >= 0 && d < 1000);
    assert.equal(lib.stampedText(64).length, 64);
  } finally {
    delete (globalThis as { __ENV?: unknown }).__ENV;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
