/**
 * Loads uWebSockets.js and refuses to run on its slow pure-JS fallback: the
 * package silently falls back when its native binary does not load (another
 * Node ABI or an older glibc), which would quietly cost most of the gateway's
 * throughput. The native module exports symbols the fallback lacks.
 *
 * It also turns off the `uWebSockets: 20` header uWS adds to every response:
 * `_cfg('silent')` sets the event loop's "no mark" flag, the runtime switch
 * for what the C++ library's UWS_HTTPRESPONSE_NO_WRITEMARK does at build time.
 */
import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';

const require = createRequire(import.meta.url);

export function loadUws(): typeof UwsTypes {
  const uws = require('uWebSockets.js') as typeof UwsTypes & Record<string, unknown>;
  if (typeof uws.getParts !== 'function' || typeof uws.LIBUS_LISTEN_EXCLUSIVE_PORT !== 'number') {
    throw new Error(
      `uWebSockets.js native binary did not load for Node ${process.versions.node} (ABI ${process.versions.modules}); ` +
        'refusing to run on the slow fallback. See README "Node 22 and later".',
    );
  }
  uws._cfg('silent');
  return uws;
}
