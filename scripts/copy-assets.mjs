// Copies the non-TypeScript runtime assets (Redis Lua scripts) next to the compiled code in dist/.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const components = ['shards', 'gateway', 'presence', 'relay', 'delivery', 'common'];
for (const component of components) {
  const dir = join(component, 'lua');
  if (existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).length > 0) {
    cpSync(dir, join('dist', dir), { recursive: true });
  }
}
