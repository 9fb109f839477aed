/**
 * A small HTTP/JSON client for the load tools, on node:http so that every
 * request can choose its source address (`localAddress`) and share a
 * keep-alive agent with a bounded number of sockets.
 */
import http from 'node:http';

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface HttpOptions {
  /** `Authorization: Bearer <token>`. */
  token?: string;
  /** Serialized as JSON. */
  body?: unknown;
  /** Client source address (127.x.y.z). */
  localAddress?: string;
  agent?: http.Agent;
  /** Deadline of the whole request, from now until the body has arrived. @default 30000 */
  timeoutMs?: number;
}

/** Sends one request and reads the whole response body. Rejects only on network errors and timeouts. */
export function request(method: string, url: string, opts: HttpOptions = {}): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers: http.OutgoingHttpHeaders = {};
    if (body) {
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = body.length;
    }
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const req = http.request(url, {
      method,
      headers,
      agent: opts.agent,
      ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
    });
    // One deadline for the whole exchange, including the wait for a free agent socket.
    const timer = setTimeout(
      () => req.destroy(new Error(`${method} ${url}: timed out`)),
      opts.timeoutMs ?? 30_000,
    );
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    req.on('error', fail);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    req.end(body);
  });
}

/** The value of the `sessionToken` cookie in a response, or undefined. */
export function sessionToken(res: HttpResult): string | undefined {
  for (const cookie of res.headers['set-cookie'] ?? []) {
    const m = /^sessionToken=([^;]+)/.exec(cookie);
    if (m?.[1]) return m[1];
  }
  return undefined;
}

/** Fails with the method, URL, status and a slice of the body unless the status is 2xx. */
export function expectOk(res: HttpResult, what: string): HttpResult {
  if (res.status < 200 || res.status > 299)
    throw new Error(`${what}: ${res.status} ${res.text.slice(0, 300)}`);
  return res;
}

/**
 * Runs `task(i)` for i in [0, count) with at most `concurrency` running at
 * once; resolves with the results in index order, rejects on the first error.
 */
export async function mapLimit<T>(
  count: number,
  concurrency: number,
  task: (i: number) => Promise<T>,
): Promise<T[]> {
  const out = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return out;
}

/**
 * Runs `fn` up to `attempts` times with a jittered, doubling backoff from
 * `backoffMs`, for setup steps (opening sockets before a measurement) on a
 * busy machine; `onRetry` counts the retries. Rethrows the last error.
 */
export async function retrying<T>(
  fn: () => Promise<T>,
  attempts = 3,
  onRetry?: (err: unknown) => void,
  backoffMs = 250,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      onRetry?.(err);
      await new Promise((r) => setTimeout(r, backoffMs * 2 ** (i - 1) * (0.5 + Math.random())));
    }
  }
}
