import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
/** Where `npm run dev:web` forwards API and WebSocket calls (a running gateway). */
const gateway = process.env.GATEWAY_URL ?? 'http://127.0.0.1:8080';
const apiPaths = ['/register', '/login', '/logout', '/me', '/chats', '/users', '/dialog', '/group', '/user'];

export default defineConfig({
  root,
  base: '/',
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The gateway's CSP forbids inline scripts; keep every script an external file.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    proxy: Object.fromEntries(apiPaths.map((p) => [p, { target: gateway, ws: true }])),
  },
});
