/**
 * A minimal WebSocket client (RFC 6455) for the load tools' receiving hot
 * path: plain ws:// only, no extensions, text frames to a callback. It reads
 * with the socket's `onread` buffer, so a read costs no stream machinery and
 * no allocation, and hands each frame's payload to the callback as a view of
 * that buffer: the callback must finish with it before returning. Frames split
 * over reads are copied together; pings are answered; a close frame is echoed.
 */
import crypto from 'node:crypto';
import net from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const READ_BUFFER_BYTES = 64 * 1024;
/** Largest frame accepted from the server (the gateway's own frames are far smaller). */
const MAX_FRAME_BYTES = 16 * 1024 * 1024;

export interface RawWsOptions {
  /** @default 15000 */
  timeoutMs?: number;
  localAddress?: string;
}

export interface RawWsHandlers {
  /** A text (or binary) message; `payload` is only valid during the call. */
  onMessage(payload: Buffer): void;
  /** The connection ended, with the close code the server sent (1006 when none). */
  onClose(code: number): void;
}

export class RawWebSocket {
  private pending: Buffer | null = null;
  private fragments: Buffer[] | null = null;
  private closed = false;
  private closeCode = 1006;

  private constructor(
    private readonly socket: net.Socket,
    private readonly h: RawWsHandlers,
  ) {}

  /** Opens the connection; rejects with `upgrade refused: <status>` when the server answers otherwise. */
  static connect(url: string, h: RawWsHandlers, o: RawWsOptions = {}): Promise<RawWebSocket> {
    const u = new URL(url);
    if (u.protocol !== 'ws:') return Promise.reject(new Error(`only ws:// URLs: ${url}`));
    const key = crypto.randomBytes(16).toString('base64');
    const accept = crypto
      .createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    return new Promise((resolve, reject) => {
      let ws: RawWebSocket | null = null;
      let head = '';
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const socket = net.connect({
        host: u.hostname,
        port: Number(u.port || 80),
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
        onread: {
          buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
          callback: (n: number, buf: Buffer) => {
            if (ws) {
              ws.read(buf.subarray(0, n));
              return true;
            }
            // Handshake: the response head is ASCII; frames may follow it in the same read.
            const chunk = buf.subarray(0, n);
            const before = head.length;
            head += chunk.toString('latin1');
            const end = head.indexOf('\r\n\r\n');
            if (end < 0) {
              if (head.length > 16 * 1024) fail(new Error('upgrade response too large'));
              return true;
            }
            const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0);
            if (status !== 101) {
              fail(new Error(`upgrade refused: ${status}`));
              return false;
            }
            if (!new RegExp(`\r\nsec-websocket-accept: *${escapeRe(accept)} *\r\n`, 'i').test(head)) {
              fail(new Error('upgrade: bad Sec-WebSocket-Accept'));
              return false;
            }
            settled = true;
            clearTimeout(timer);
            ws = new RawWebSocket(socket, h);
            socket.on('close', () => ws!.ended());
            resolve(ws);
            const rest = chunk.subarray(end + 4 - before);
            if (rest.length > 0) ws.read(rest);
            return true;
          },
        },
      });
      const timer = setTimeout(
        () => fail(new Error('Opening handshake has timed out')),
        o.timeoutMs ?? 15_000,
      );
      socket.setNoDelay(true);
      socket.on('error', (err) => fail(err));
      socket.once('close', () => fail(new Error('socket closed during the handshake')));
      socket.once('connect', () => {
        socket.write(
          `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
      });
    });
  }

  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /** Sends a text frame. */
  send(text: string): void {
    if (this.closed) return;
    this.frame(0x1, Buffer.from(text));
  }

  /** Starts the closing handshake (code 1000). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.frame(0x8, Buffer.from([0x03, 0xe8]));
    this.socket.end();
    // A server that never answers must not keep the socket open.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private ended(): void {
    this.closed = true;
    this.h.onClose(this.closeCode);
  }

  /** Writes one masked frame (clients must mask). */
  private frame(opcode: number, payload: Buffer): void {
    const n = payload.length;
    const headLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
    const out = Buffer.allocUnsafe(headLen + 4 + n);
    out[0] = 0x80 | opcode;
    if (n < 126) {
      out[1] = 0x80 | n;
    } else if (n < 65536) {
      out[1] = 0x80 | 126;
      out.writeUInt16BE(n, 2);
    } else {
      out[1] = 0x80 | 127;
      out.writeBigUInt64BE(BigInt(n), 2);
    }
    crypto.randomFillSync(out, headLen, 4);
    for (let i = 0; i < n; i++) out[headLen + 4 + i] = payload[i]! ^ out[headLen + (i & 3)]!;
    this.socket.write(out);
  }

  /** Parses the frames in `chunk` (a view of the read buffer), keeping a partial frame for the next read. */
  private read(chunk: Buffer): void {
    let data = chunk;
    if (this.pending) {
      data = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let i = 0;
    while (i < data.length) {
      if (data.length - i < 2) break;
      const b0 = data[i]!;
      const b1 = data[i + 1]!;
      let len = b1 & 0x7f;
      let p = i + 2;
      if (len === 126) {
        if (data.length - i < 4) break;
        len = data.readUInt16BE(i + 2);
        p = i + 4;
      } else if (len === 127) {
        if (data.length - i < 10) break;
        len = Number(data.readBigUInt64BE(i + 2));
        p = i + 10;
      }
      if (b1 & 0x80 || len > MAX_FRAME_BYTES) {
        // Servers never mask; either is a protocol error.
        this.closeCode = 1002;
        this.socket.destroy();
        return;
      }
      if (data.length - p < len) break;
      this.onFrame(b0 & 0x80 ? true : false, b0 & 0x0f, data.subarray(p, p + len));
      i = p + len;
    }
    if (i < data.length) this.pending = Buffer.from(data.subarray(i));
  }

  private onFrame(fin: boolean, opcode: number, payload: Buffer): void {
    switch (opcode) {
      case 0x0: // continuation
        if (!this.fragments) return;
        this.fragments.push(Buffer.from(payload));
        if (fin) {
          const whole = Buffer.concat(this.fragments);
          this.fragments = null;
          this.h.onMessage(whole);
        }
        return;
      case 0x1:
      case 0x2:
        if (fin) this.h.onMessage(payload);
        else this.fragments = [Buffer.from(payload)];
        return;
      case 0x8:
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        if (!this.closed) {
          this.closed = true;
          this.frame(0x8, payload.subarray(0, 2));
          this.socket.end();
        }
        return;
      case 0x9:
        if (!this.closed) this.frame(0xa, Buffer.from(payload));
        return;
      default: // pong and reserved opcodes
        return;
    }
  }
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
