// Shared helpers of the k6 scripts: target URLs from __ENV, user registration
// in setup(), client ids, and the timestamp the sender puts in every message.
import http from 'k6/http';
import { check } from 'k6';

/** Gateway base URLs: BASE_URL may list several, comma-separated (the first is "gateway A"). */
export const BASE_URLS = (__ENV.BASE_URL || 'http://127.0.0.1:8080')
  .split(',')
  .map((u) => u.trim().replace(/\/$/, ''))
  .filter((u) => u.length > 0);

/** The WebSocket base of gateway `i` (wraps around). */
export function wsBase(i) {
  return BASE_URLS[i % BASE_URLS.length].replace(/^http/, 'ws');
}

/** The HTTP base of gateway `i` (wraps around). */
export function httpBase(i) {
  return BASE_URLS[i % BASE_URLS.length];
}

export const PASSWORD = __ENV.PASSWORD || 'k6 bench password';

/** A number from __ENV or the default. */
export function envNumber(name, fallback) {
  const v = __ENV[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!isFinite(n)) throw new Error(`${name} must be a number, got "${v}"`);
  return n;
}

/** A fresh login prefix per run, so runs never collide with earlier users. */
export function runPrefix() {
  return `k6${Math.floor(Math.random() * 0xffffff).toString(36)}_`;
}

/** The sessionToken cookie of a register/login response. */
export function tokenOf(res) {
  const c = res.cookies && res.cookies.sessionToken;
  return c && c.length > 0 ? c[0].value : '';
}

/**
 * Registers `count` users (in batches of `parallel` requests; argon2 makes
 * each registration cost tens of milliseconds of server CPU) and returns
 * [{login, token}]. Meant for setup(); give it a generous setupTimeout.
 */
export function registerUsers(count, prefix, parallel) {
  const users = [];
  const step = parallel || 8;
  for (let start = 0; start < count; start += step) {
    const batch = [];
    for (let i = start; i < Math.min(count, start + step); i++) {
      batch.push({
        method: 'POST',
        url: `${httpBase(0)}/register`,
        body: JSON.stringify({ username: `k6 user ${i}`, login: `${prefix}${i}`, password: PASSWORD }),
        params: { headers: { 'Content-Type': 'application/json' }, tags: { name: 'POST /register' } },
      });
    }
    const responses = http.batch(batch);
    responses.forEach((res, k) => {
      const ok = check(res, { 'register: status 200': (r) => r.status === 200 });
      if (!ok) throw new Error(`POST /register ${prefix}${start + k}: ${res.status} ${res.body}`);
      users.push({ login: `${prefix}${start + k}`, token: tokenOf(res) });
    });
  }
  return users;
}

/** `Authorization: Bearer` params for http calls. */
export function auth(token, name) {
  return {
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    tags: { name },
  };
}

/** A client_id in UUID shape, unique per VU and sequence number. */
export function clientId(vu, seq) {
  const hex = (n, w) => n.toString(16).padStart(w, '0').slice(-w);
  return `${hex(vu, 8)}-0000-4000-8000-${hex(seq, 12)}`;
}

/** A message text that carries its send time: "<epoch ms>|<padding>". */
export function stampedText(size) {
  const head = `${Date.now()}|`;
  return size > head.length ? head + 'x'.repeat(size - head.length) : head;
}

/** Milliseconds since the send time stamped in `text`, or -1. */
export function delayOf(text) {
  const bar = text.indexOf('|');
  if (bar <= 0) return -1;
  const sent = Number(text.slice(0, bar));
  return isFinite(sent) ? Date.now() - sent : -1;
}

/** A send_message event. `chat` is needed on /chats/ws only. */
export function sendEvent(text, id, chat) {
  const payload = chat ? { text, client_id: id, chat } : { text, client_id: id };
  return JSON.stringify({ type: 'send_message', payload });
}

/** Seconds from __ENV: "30", "30s", "2m" or "1h". */
export function envSeconds(name, fallback) {
  const v = __ENV[name];
  if (v === undefined || v === '') return fallback;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(String(v).trim());
  if (!m) throw new Error(`${name} must be a duration like 30s, got "${v}"`);
  const n = Number(m[1]);
  const unit = m[2] || 's';
  return unit === 'ms' ? n / 1000 : unit === 'm' ? n * 60 : unit === 'h' ? n * 3600 : n;
}
