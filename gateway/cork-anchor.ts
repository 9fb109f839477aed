/**
 * A WebSocket the gateway keeps open to itself, so that an upgrade authorised
 * asynchronously always finds another socket to run inside the cork of.
 *
 * uWS.js prints "uWS.HttpResponse writes must be made from within a corked
 * callback" to stderr for any response write outside a cork callback, and
 * `res.cork(() => res.upgrade(...))` hits a uWS v20.30 bug (see
 * WsEndpoints.accept); an upgrade corked by another socket has neither
 * problem. Before this anchor, the first upgrade on a gateway with no socket
 * open ran uncorked, and `npm start` showed uWS's warning as an error line.
 *
 * The anchor's route is a path with 128 random bits, accepts one socket at a
 * time, never reads or writes a frame and has no idle timeout. It is not a
 * client socket: it is in neither the hub nor the connection metrics.
 */
import crypto from 'node:crypto';
import net from 'node:net';
import type { TemplatedApp, WebSocket } from 'uWebSockets.js';
import { AppError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { errorReply, send } from './http.js';

const RECONNECT_MS = 1000;
/** How long `start` waits for the socket to open. */
const OPEN_TIMEOUT_MS = 5000;

export class CorkAnchor {
  private readonly path = `/.anchor/${crypto.randomBytes(16).toString('hex')}`;
  private ws: WebSocket<object> | null = null;
  private client: net.Socket | null = null;
  private stopped = false;
  private opened: (() => void) | null = null;

  constructor(private readonly logger: Logger) {}

  /** Registers the anchor's route; call before the app's fallback route. */
  register(app: TemplatedApp): void {
    app.ws<object>(this.path, {
      idleTimeout: 0,
      maxPayloadLength: 128,
      sendPingsAutomatically: false,
      upgrade: (res, req, context) => {
        if (this.ws) {
          send(res, { aborted: false }, errorReply(new AppError('not_found', 'no such route')));
          return;
        }
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        // Within the upgrade handler uWS has corked the socket already: this cork only marks the
        // write as corked for uWS.js, and the v20.30 bug of a cork around an upgrade does not arise.
        res.cork(() => res.upgrade({}, key, protocol, extensions, context));
      },
      open: (ws) => {
        this.ws = ws;
        this.opened?.();
      },
      close: () => {
        this.ws = null;
      },
    });
  }

  /** Opens the anchor to the gateway's own listening address; resolves once it is open (or given up). */
  start(host: string, port: number): Promise<void> {
    const target = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const opened = new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn({ target, port }, 'cork anchor did not open; upgrades may run uncorked');
        resolve();
      }, OPEN_TIMEOUT_MS);
      this.opened = () => {
        clearTimeout(timer);
        this.opened = null;
        resolve();
      };
    });
    this.connect(target, port);
    return opened;
  }

  /** The anchor's server-side socket while it is open. */
  socket(): WebSocket<object> | undefined {
    return this.ws ?? undefined;
  }

  stop(): void {
    this.stopped = true;
    this.client?.destroy();
    this.client = null;
  }

  private connect(host: string, port: number): void {
    const client = net.connect({ host, port });
    this.client = client;
    client.setNoDelay(true);
    client.on('connect', () => {
      const key = crypto.randomBytes(16).toString('base64');
      client.write(
        `GET ${this.path} HTTP/1.1\r\nHost: ${host.includes(':') ? `[${host}]` : host}:${port}\r\n` +
          `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
          'Sec-WebSocket-Version: 13\r\n\r\n',
      );
    });
    // The 101 and nothing after it: the server side never sends a frame.
    client.on('data', () => undefined);
    client.on('error', (err) => this.logger.debug({ err }, 'cork anchor connection failed'));
    client.on('close', () => {
      if (this.client === client) this.client = null;
      if (!this.stopped) setTimeout(() => this.connect(host, port), RECONNECT_MS).unref();
    });
  }
}
