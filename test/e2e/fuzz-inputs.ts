/**
 * The inputs fuzz.test.ts throws at the gateway (fast-check arbitraries): nasty strings, JSON shapes and
 * raw bodies for every REST route with random queries and path parameters, and WebSocket frames.
 * `GROUP` and `BOB` in a path parameter or chat id stand for a real group id and login.
 */
import fc from 'fast-check';

/** Strings that tend to break things: empty, huge, unicode, control characters, path tricks. */
export const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '\u0000',
    '\uD800',
    '../../etc/passwd',
    '%00',
    '%',
    '%E0%A4%A',
    'null',
    '__proto__',
    'constructor',
    '😀'.repeat(5000),
    'A'.repeat(33),
    '-1',
    '1e309',
    '9007199254740993',
  ),
  fc.nat(70_000).map((n) => 'x'.repeat(n)),
  fc.nat(20_000).map((n) => 'é😀\u202e'.repeat(n)),
);

export const jsonShape: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }),
  fc.record(
    {
      username: fc.oneof(nastyString, fc.jsonValue({ maxDepth: 2 })),
      login: fc.oneof(nastyString, fc.jsonValue({ maxDepth: 2 })),
      password: fc.oneof(nastyString, fc.jsonValue({ maxDepth: 2 })),
      name: fc.oneof(nastyString, fc.jsonValue({ maxDepth: 2 })),
      public: fc.jsonValue({ maxDepth: 1 }),
      members: fc.oneof(fc.array(nastyString, { maxLength: 5 }), fc.jsonValue({ maxDepth: 2 })),
    },
    { requiredKeys: [] },
  ),
);

/** A body as sent on the wire: JSON of a random shape, or raw bytes that are not JSON at all. */
export const rawBody: fc.Arbitrary<string | Uint8Array | undefined> = fc.oneof(
  { weight: 5, arbitrary: jsonShape.map((v) => JSON.stringify(v) ?? 'undefined') },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 30_000 }).map((n) => '['.repeat(n) + ']'.repeat(n)) },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 1, max: 10_000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  },
);

export const ROUTES: { method: string; path: (p: string, q: string) => string }[] = [
  { method: 'POST', path: () => '/register' },
  { method: 'POST', path: () => '/login' },
  { method: 'POST', path: () => '/logout' },
  { method: 'GET', path: (_p, q) => `/me?${q}` },
  { method: 'GET', path: (_p, q) => `/chats?${q}` },
  { method: 'GET', path: (_p, q) => `/users?${q}` },
  { method: 'GET', path: (p, q) => `/dialog/${p}?${q}` },
  { method: 'POST', path: () => '/groups' },
  { method: 'GET', path: (p, q) => `/group/${p}?${q}` },
  { method: 'GET', path: (p, q) => `/group/${p}/members?${q}` },
  { method: 'POST', path: (p) => `/group/${p}/members` },
  { method: 'DELETE', path: (p) => `/group/${p}/members/${p}` },
  { method: 'POST', path: () => '/user/active/update' },
  { method: 'GET', path: (p) => `/user/active/${p}` },
  { method: 'PUT', path: (p) => `/group/${p}` },
  { method: 'GET', path: (p) => `/${p}` },
];

/**
 * uWebSockets.js drops a connection whose request head exceeds its header buffer (4 KB by default)
 * without answering, so fuzzed URLs stay under it; fuzz.test.ts covers longer ones on their own.
 */
export const QUERY_KEYS = ['limit', 'before', 'after', 'cursor', 'query', 'token'];
export const query = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), nastyString), nastyString), { maxLength: 4 })
  .map((pairs) =>
    new URLSearchParams(pairs.map(([k, v]): [string, string] => [k.slice(0, 40), v.slice(0, 200)]))
      .toString()
      .slice(0, 1500),
  );

/** A path parameter: random text (percent-encoded or raw), or a real id/login so deeper code runs. */
export const param = fc.oneof(
  nastyString.map((s) => encodeLoose(s.slice(0, 300)).slice(0, 1200)),
  fc.constantFrom('%', '%zz', '..', '%2e%2e', 'a%00b', '_', '-'),
  fc.constant('GROUP'),
  fc.constant('BOB'),
);

/** encodeURIComponent, with lone surrogates (which it refuses) replaced first. */
export function encodeLoose(s: string): string {
  return encodeURIComponent(
    s.replace(/[\uD800-\uDFFF]/g, (c, i: number, all: string) => {
      const code = c.charCodeAt(0);
      const next = all.charCodeAt(i + 1);
      const prev = all.charCodeAt(i - 1);
      if (code < 0xdc00 && next >= 0xdc00 && next <= 0xdfff) return c;
      if (code >= 0xdc00 && prev >= 0xd800 && prev < 0xdc00) return c;
      return '\uFFFD';
    }),
  );
}

/**
 * The text of a frame that may be a send the API accepts (a string text on a send event), so a stored
 * message can be told apart from one that leaked from an invalid frame.
 */
export function sendText(frame: unknown): string | null {
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) return null;
  const e = frame as { type?: unknown; payload?: unknown };
  if (e.type !== 'send_message' && e.type !== 'send message') return null;
  const payload = e.payload as { text?: unknown } | undefined;
  if (typeof payload !== 'object' || payload === null) return null;
  if (typeof payload.text !== 'string') return null;
  return payload.text;
}

export const CHAT_TYPES = ['send_message', 'send message', 'read', 'typing', 'user_activity'];

export const wsFrame: fc.Arbitrary<{ data: string | Buffer; binary: boolean }> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record(
        {
          type: fc.oneof(fc.constantFrom(...CHAT_TYPES), nastyString, fc.jsonValue({ maxDepth: 1 })),
          payload: fc.oneof(
            fc.jsonValue({ maxDepth: 3 }),
            fc.record(
              {
                text: fc.oneof(nastyString, fc.jsonValue({ maxDepth: 1 })),
                client_id: fc.oneof(nastyString, fc.jsonValue({ maxDepth: 1 })),
                id: fc.oneof(fc.integer(), fc.double(), nastyString, fc.jsonValue({ maxDepth: 1 })),
                chat: fc.oneof(
                  fc.jsonValue({ maxDepth: 2 }),
                  fc.record({
                    type: fc.oneof(fc.constantFrom('dialog', 'group'), nastyString),
                    id: fc.oneof(nastyString, fc.constant('BOB'), fc.constant('GROUP')),
                  }),
                ),
              },
              { requiredKeys: [] },
            ),
          ),
        },
        { requiredKeys: [] },
      )
      .map((e) => ({ data: JSON.stringify(e), binary: false })),
  },
  {
    weight: 2,
    arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ data: JSON.stringify(v), binary: false })),
  },
  { weight: 1, arbitrary: nastyString.map((s) => ({ data: s, binary: false })) },
  {
    weight: 1,
    arbitrary: fc.uint8Array({ maxLength: 300 }).map((b) => ({ data: Buffer.from(b), binary: true })),
  },
  {
    weight: 1,
    arbitrary: fc
      .nat(80_000)
      .map((n) => ({ data: `{"type":"send_message","payload":{"text":"${'y'.repeat(n)}"}}`, binary: false })),
  },
);
