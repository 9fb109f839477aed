import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CONFIG_SPEC, loadConfig } from './config.js';

/** The README lives at the repository root, two levels above dist/common (or one above common/). */
function readme(): string {
  for (const rel of ['../README.md', '../../README.md']) {
    try {
      return readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');
    } catch {
      // try the next location
    }
  }
  throw new Error('README.md not found');
}

describe('configuration', () => {
  it('the README configuration table lists every variable with its default', () => {
    const text = readme();
    for (const spec of Object.values(CONFIG_SPEC)) {
      const row = text.split('\n').find((line) => line.startsWith(`| \`${spec.env}\` |`));
      assert.ok(row, `README has no row for ${spec.env}`);
      const d = Array.isArray(spec.default)
        ? spec.default.length > 0
          ? spec.default.join(',')
          : '(empty)'
        : spec.default === ''
          ? '(empty)'
          : String(spec.default);
      assert.ok(row.includes(`\`${d}\``), `README row of ${spec.env} does not show the default ${d}`);
    }
  });

  it('defaults load, and bad values fail naming the variable', () => {
    const config = loadConfig('test', {});
    assert.equal(config.httpPort, 8080);
    assert.equal(config.store, 'sqlite');
    assert.ok(Object.isFrozen(config));
    assert.throws(() => loadConfig('test', { HTTP_PORT: 'eighty' }), /HTTP_PORT/);
    assert.throws(() => loadConfig('test', { STORE: 'mysql' }), /STORE/);
    assert.throws(() => loadConfig('test', { REDIS_URL: 'not a url' }), /REDIS_URL/);
    assert.throws(() => loadConfig('test', { STORE: 'cassandra' }), /CASSANDRA_CONTACT_POINTS/);
    assert.throws(() => loadConfig('test', { TRUST_PROXY: 'maybe' }), /TRUST_PROXY/);
  });

  it('lists are split on commas', () => {
    const config = loadConfig('test', { ALLOWED_ORIGINS: 'https://a.example, https://b.example' });
    assert.deepEqual(config.allowedOrigins, ['https://a.example', 'https://b.example']);
  });
});
