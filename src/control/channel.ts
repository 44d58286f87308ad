/**
 * A TWAMP-Control connection as a sequence of messages: exact-size reads from the TCP stream
 * (one read is not one message), per-read timeouts from the injected scheduler, and, once the
 * keys are known, the RFC 4656 section 3.2 protection: each direction is an AES-CBC stream and
 * every message after Server-Start ends with a 16-octet HMAC over its plaintext blocks.
 */
import type { Scheduler, Cancel } from '../session/clock.js';
import { CbcStream, hmac16, hmacEqual } from './crypto.js';

/** The part of a `net.Socket` the control layer uses (tests may pass any duplex that fits). */
export interface ControlSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
  write(data: Buffer): boolean;
  end(): void;
  destroy(): void;
  on(event: 'data', cb: (b: Buffer) => void): unknown;
  on(event: 'close', cb: () => void): unknown;
  on(event: 'error', cb: (e: Error) => void): unknown;
}

/** Stable control error codes. */
export type ControlErrorCode =
  | 'ERR_CLOSED' // the peer closed the connection
  | 'ERR_TIMEOUT' // no (complete) message within the allowed time
  | 'ERR_HMAC' // a message failed integrity protection
  | 'ERR_PROTOCOL' // a message that makes no sense here
  | 'ERR_OVERRUN' // the peer sent far more than any valid exchange needs
  | 'ERR_REFUSED' // the peer said no (Modes = 0, Accept != 0)
  | 'ERR_AUTH' // key or mode problems
  | 'ERR_UNSUPPORTED'; // the server does not offer an extension we need (RFC 7750)

/** A control-connection failure with a stable code. */
export class ControlError extends Error {
  constructor(
    readonly code: ControlErrorCode,
    message: string,
    /** Accept value received or to send, when one applies. */
    readonly accept?: number,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

/** The keys and streams of a secured connection. */
export interface ChannelKeys {
  aesKey: Buffer;
  hmacKey: Buffer;
  /** IV of the stream we write. */
  writeIv: Buffer;
  /** IV of the stream we read. */
  readIv: Buffer;
}

/** Most bytes a peer may send ahead of what we have read (a pipelined exchange needs far less). */
const MAX_BUFFERED = 64 * 1024;

interface PendingRead {
  n: number;
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
  cancel: Cancel | null;
}

/** Message-level view of one control connection. */
export class ControlChannel {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private pending: PendingRead | null = null;
  private closed = false;
  private closeError: ControlError | null = null;
  private enc: CbcStream | null = null;
  private dec: CbcStream | null = null;
  private hmacKey: Buffer | null = null;
  private sendPrefix: Buffer[] = [];
  private recvPrefix: Buffer[] = [];
  /** Called whenever bytes arrive (the server uses it for SERVWAIT). */
  onActivity: (() => void) | null = null;

  constructor(
    readonly socket: ControlSocket,
    private readonly scheduler: Scheduler,
  ) {
    socket.on('data', (b) => this.onData(b));
    socket.on('close', () => this.fail(new ControlError('ERR_CLOSED', 'connection closed by peer')));
    socket.on('error', (e) => this.fail(new ControlError('ERR_CLOSED', `connection error: ${e.message}`)));
  }

  /** True once keys are installed: messages are encrypted and authenticated. */
  get secure(): boolean {
    return this.enc !== null;
  }

  /** Installs the session keys; from now on writes and reads go through the CBC streams. */
  setKeys(k: ChannelKeys): void {
    this.enc = new CbcStream(k.aesKey, k.writeIv, 'encrypt');
    this.dec = new CbcStream(k.aesKey, k.readIv, 'decrypt');
    this.hmacKey = k.hmacKey;
  }

  /** Writes raw bytes (greeting, set-up, the clear part of Server-Start). */
  writeRaw(data: Buffer): void {
    if (!this.closed) this.socket.write(data);
  }

  /**
   * Writes `clear` as is, then `plain` encrypted (when secure) with its plaintext added to the
   * next outgoing HMAC: Server-Start's clear head and its last block. One write, because some
   * clients (nokia/twampy) take one TCP read for one message.
   */
  writeClearThenPrefix(clear: Buffer, plain: Buffer): void {
    if (!this.enc) {
      this.writeRaw(Buffer.concat([clear, plain]));
      return;
    }
    this.sendPrefix.push(Buffer.from(plain));
    this.writeRaw(Buffer.concat([clear, this.enc.update(plain)]));
  }

  /** Sends a message whose last 16 octets are its HMAC field (filled here when secure). */
  sendMessage(plain: Buffer): void {
    if (this.enc && this.hmacKey) {
      const body = plain.subarray(0, plain.length - 16);
      hmac16(this.hmacKey, ...this.sendPrefix, body).copy(plain, plain.length - 16);
      this.sendPrefix = [];
      this.writeRaw(this.enc.update(plain));
    } else {
      this.writeRaw(plain);
    }
  }

  /** Reads exactly `n` raw bytes, failing with ERR_TIMEOUT after `timeoutMs` (0: no limit). */
  readRaw(n: number, timeoutMs: number): Promise<Buffer> {
    if (this.pending) return Promise.reject(new Error('ControlChannel: concurrent reads'));
    if (this.buffered >= n) return Promise.resolve(this.take(n));
    if (this.closeError) return Promise.reject(this.closeError);
    return new Promise<Buffer>((resolve, reject) => {
      const p: PendingRead = { n, resolve, reject, cancel: null };
      if (timeoutMs > 0) {
        p.cancel = this.scheduler.setTimeout(() => {
          if (this.pending !== p) return;
          this.pending = null;
          reject(new ControlError('ERR_TIMEOUT', `no complete message within ${timeoutMs} ms (${this.buffered} of ${n} bytes)`));
        }, timeoutMs);
      }
      this.pending = p;
    });
  }

  /** Reads `n` bytes (whole blocks) and decrypts them when secure; they join the incoming HMAC. */
  async readBlocks(n: number, timeoutMs: number): Promise<Buffer> {
    const raw = await this.readRaw(n, timeoutMs);
    return this.dec ? this.dec.update(raw) : raw;
  }

  /** Adds plaintext blocks that precede the next incoming message's HMAC (Server-Start's last block). */
  addRecvPrefix(plain: Buffer): void {
    if (this.hmacKey) this.recvPrefix.push(Buffer.from(plain));
  }

  /** Checks the HMAC of a whole received plaintext message (last 16 octets); true when not secure. */
  verifyMessage(plain: Buffer): boolean {
    if (!this.hmacKey) return true;
    const want = hmac16(this.hmacKey, ...this.recvPrefix, plain.subarray(0, plain.length - 16));
    this.recvPrefix = [];
    return hmacEqual(want, plain.subarray(plain.length - 16));
  }

  /** Reads a whole fixed-size message, decrypting it and checking its HMAC. */
  async readMessage(n: number, timeoutMs: number): Promise<Buffer> {
    const plain = await this.readBlocks(n, timeoutMs);
    if (!this.verifyMessage(plain)) throw new ControlError('ERR_HMAC', 'message failed HMAC verification');
    return plain;
  }

  /** Closes gracefully after pending writes. */
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    this.fail(new ControlError('ERR_CLOSED', 'connection closed'));
  }

  /** Closes at once. */
  destroy(): void {
    this.closed = true;
    this.socket.destroy();
    this.fail(new ControlError('ERR_CLOSED', 'connection closed'));
  }

  /** Bytes received and not yet read. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  private onData(b: Buffer): void {
    if (this.closed) return;
    this.onActivity?.();
    this.chunks.push(b);
    this.buffered += b.length;
    if (this.buffered > MAX_BUFFERED) {
      this.fail(new ControlError('ERR_OVERRUN', `peer sent ${this.buffered} bytes ahead of the protocol`));
      this.closed = true;
      this.socket.destroy();
      return;
    }
    const p = this.pending;
    if (p && this.buffered >= p.n) {
      this.pending = null;
      p.cancel?.();
      p.resolve(this.take(p.n));
    }
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = Buffer.from(all.subarray(0, n));
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  private fail(e: ControlError): void {
    if (!this.closeError) this.closeError = e;
    const p = this.pending;
    if (p) {
      this.pending = null;
      p.cancel?.();
      p.reject(this.closeError);
    }
  }
}
