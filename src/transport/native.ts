/**
 * The native Linux socket layer: a Transport over the N-API addon in `native/twampy_native.c`.
 *
 * What it adds over `dgram.ts`: outgoing TOS/DSCP (per socket, and per packet via `send`'s 4th
 * argument), TTL / hop limit, Don't Fragment; for every received packet its TTL / hop limit, its
 * TOS / traffic class and a kernel receive timestamp; batched receive and send (recvmmsg,
 * sendmmsg) with one JS call per batch instead of one per packet.
 *
 * Timestamps. The kernel stamps packets with CLOCK_REALTIME. Sessions read their other timestamps
 * (T3 on the reflector, T1 on the sender) from the injected `Clock`, normally `SystemClock`, which
 * is the monotonic clock anchored once to the wall clock. Subtracting a raw CLOCK_REALTIME stamp
 * from a SystemClock reading would add the anchor's error (up to tens of microseconds) and any
 * step of the system clock since the anchor to every T3-T2 and T4-T1. So this layer converts each
 * kernel stamp into the Clock's timebase: `rxTimeNs = kernelNs + offset`, where
 * `offset = clock.nowNs() - CLOCK_REALTIME` is measured (best of several tight samples, error well
 * under a microsecond) when the first socket opens and again every second while sockets are open.
 * The result is still wall-clock ns since the Unix epoch, as `ReceivedDatagram` promises, and
 * differences against `clock.nowNs()` are exact to the sample error.
 *
 * Sends. `send()` copies the datagram into a shared arena. Inside a receive batch (a reflector's
 * replies) the arena is flushed with one sendmmsg when the batch has been handled; outside one (a
 * sender, whose T1 is read just before `send()`) the datagram leaves at once, since any delay would
 * be added to the measured round trip. A datagram that cannot be sent (EMSGSIZE under Don't Fragment,
 * ENETUNREACH, ...) is reported to the error handler; a full socket buffer (EAGAIN) holds the rest
 * back until the socket polls writable, as libuv does for dgram.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isIP } from 'node:net';
import { lookup } from 'node:dns';
import { constants as osConstants } from 'node:os';
import { systemClock, type Clock } from '../session/clock.js';
import {
  UnsupportedFeatureError,
  type DatagramHandler,
  type DatagramSocket,
  type Family,
  type ReceivedDatagram,
  type SocketOptions,
  type Transport,
  type TransportCapabilities,
} from './types.js';

/** ABI version this file speaks; must equal the addon's `ABI` export. */
const EXPECTED_ABI = 6;

/** The addon's exports (see native/twampy_native.c). */
interface Addon {
  ABI: number;
  RX_BATCH: number;
  RX_SLOT: number;
  RX_META: number;
  RX_TEXT: number;
  TX_MAX: number;
  TX_BYTES: number;
  TX_META: number;
  TX_STATUS: number;
  open(
    family: 4 | 6,
    address: string,
    port: number,
    options: Record<string, number | boolean>,
    buffers: ArrayBuffer[],
    cb: (kind: number, n: number) => void,
  ): object;
  localAddress(h: object): [number, string, number];
  flush(h: object, count: number): void;
  wantWritable(h: object, on: boolean): void;
  setOption(h: object, name: number, value: number): void;
  close(h: object): void;
  parseAddress(text: string): [4 | 6, Buffer, number] | null;
  realtimeNs(): bigint;
  allocBuffer(bytes: number): ArrayBuffer;
  setRxOffset(h: object, offsetNs: bigint): void;
}

// Receive metadata row (int32 indexes), send metadata row, events: mirrors the C enums.
const RM_LEN = 0, RM_PORT = 1, RM_FAMILY = 2, RM_TTL = 3, RM_TOS = 4, RM_KERNEL_TS = 5, RM_TEXTLEN = 7, RM_V4 = 8, RM_DROPS = 12;
const TM_OFFSET = 0, TM_LEN = 1, TM_PORT = 2, TM_FAMILY = 3, TM_TOS = 4, TM_SCOPE = 5, TM_ADDR = 8;
const EV_RX = 0, EV_WRITABLE = 1, EV_ERROR = 2, EV_CLOSED = 3;
const OPT_TOS = 0, OPT_TTL = 1, OPT_DF = 2;

/** Capabilities of every native socket. */
export const NATIVE_CAPABILITIES: TransportCapabilities = Object.freeze({
  name: 'native',
  setTos: true,
  setTtl: true,
  setDontFragment: true,
  receiveTtl: true,
  receiveTos: true,
  kernelTimestamps: true,
});

const errnoNames = new Map<number, string>();
for (const [name, num] of Object.entries(osConstants.errno)) errnoNames.set(num, name);

/** Turns an errno into a Node-style Error (code 'EMSGSIZE', syscall, address, port). */
function errnoError(errno: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  const code = errnoNames.get(errno) ?? `E${errno}`;
  const where = address === undefined ? '' : ` ${address}:${port}`;
  const err: NodeJS.ErrnoException = new Error(`${syscall} ${code}${where}`);
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  if (address !== undefined) Object.assign(err, { address, port });
  return err;
}

/** Keeps every open socket's view of `clock - CLOCK_REALTIME` fresh (see the file header). */
class ClockBridge {
  offsetNs = 0n;
  private timer: NodeJS.Timeout | undefined;
  private readonly users = new Set<object>();

  constructor(
    private readonly addon: Addon,
    private readonly clock: Clock,
  ) {}

  /** Measures the offset: best (narrowest bracket) of 7 samples. */
  calibrate(): void {
    let best = -1n;
    for (let i = 0; i < 7; i++) {
      const a = this.clock.nowNs();
      const r = this.addon.realtimeNs();
      const b = this.clock.nowNs();
      const width = b - a;
      if (best < 0n || width < best) {
        best = width;
        this.offsetNs = a + width / 2n - r;
      }
    }
    // The addon adds the offset to each stamp as it parses it, saving a BigInt per packet in JS.
    for (const h of this.users) this.addon.setRxOffset(h, this.offsetNs);
  }

  /** Starts keeping socket handle `h` up to date (and the 1 s recalibration while any is open). */
  acquire(h: object): void {
    this.users.add(h);
    if (this.users.size === 1) {
      this.calibrate();
      this.timer = setInterval(() => this.calibrate(), 1000);
      this.timer.unref();
    } else {
      this.addon.setRxOffset(h, this.offsetNs);
    }
  }

  release(h: object): void {
    this.users.delete(h);
    if (this.users.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** Parsed destination, cached per address string. */
interface Dest {
  family: 4 | 6;
  /** The 16 address bytes (IPv4 in the first 4) as four int32 words, written straight into the send metadata. */
  words: Int32Array;
  scope: number;
}

/** Bounded cache: cleared when full, since a reflector may see arbitrarily many sources. */
const CACHE_MAX = 4096;

/** Send counters and receive counters of one socket (for benchmarks and diagnostics). */
export interface NativeSocketStats {
  rxPackets: number;
  rxBatches: number;
  txPackets: number;
  txBatches: number;
  txErrors: number;
  /** Times a flush stopped on a full socket buffer and waited for writability. */
  txWaits: number;
  /** Datagrams the kernel dropped on this socket because its receive buffer was full (SO_RXQ_OVFL), as of the last datagram received. */
  kernelDrops: number;
}

/** A UDP socket on the native addon; see the file header for batching and timestamps. */
export class NativeSocket implements DatagramSocket {
  readonly capabilities = NATIVE_CAPABILITIES;
  /** send() copies into the send arena before returning. */
  readonly copiesOnSend = true;
  /** Counters, updated as packets flow. */
  readonly stats: NativeSocketStats = { rxPackets: 0, rxBatches: 0, txPackets: 0, txBatches: 0, txErrors: 0, txWaits: 0, kernelDrops: 0 };
  private readonly handle: object;
  private readonly rxData: Buffer;
  private readonly rxMeta: Int32Array;
  private readonly rxTs: BigInt64Array;
  private readonly rxText: Buffer;
  private readonly txData: Buffer;
  private readonly txMeta: Int32Array;
  private readonly txMeta8: Uint8Array;
  private readonly txStatus: Int32Array;
  private txCount = 0;
  private txOffset = 0;
  // Layout constants copied from the addon into fields: monomorphic loads on the hot path.
  private readonly rxMetaN: number;
  private readonly rxSlot: number;
  private readonly rxTextN: number;
  private readonly txMetaN: number;
  private readonly txMax: number;
  private readonly txBytes: number;
  /** One payload view per receive slot, reused while datagram sizes repeat (the interface allows it). */
  private readonly slotViews: Buffer[] = [];
  private readonly rxAb: ArrayBuffer;
  private readonly overflow: { data: Buffer; port: number; address: string; dest: Dest; tos: number }[] = [];
  private inBatch = false;
  private flushing = false;
  private deferErrors = false;
  private waitingWritable = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private resolveClose: (() => void) | undefined;
  private handler: DatagramHandler | undefined;
  private errorHandler: ((err: Error) => void) | undefined;
  private readonly v4Names = new Map<number, string>();
  private readonly dests = new Map<string, Dest | null>();
  private readonly local: { address: string; port: number; family: Family };

  /** Opens and binds; throws a Node-style errno Error (EADDRINUSE, ...) on failure. */
  constructor(
    private readonly addon: Addon,
    private readonly bridge: ClockBridge,
    family: Family,
    options: SocketOptions,
  ) {
    const a = addon;
    this.rxMetaN = a.RX_META;
    this.rxSlot = a.RX_SLOT;
    this.rxTextN = a.RX_TEXT;
    this.txMetaN = a.TX_META;
    this.txMax = a.TX_MAX;
    this.txBytes = a.TX_BYTES;
    // The two large buffers live on their own mappings (see allocBuffer in the C file).
    const rxData = a.allocBuffer(a.RX_BATCH * a.RX_SLOT);
    this.rxAb = rxData;
    for (let i = 0; i < a.RX_BATCH; i++) this.slotViews.push(Buffer.from(rxData, i * a.RX_SLOT, 0));
    const rxMeta = new ArrayBuffer(a.RX_BATCH * a.RX_META * 4);
    const rxTs = new ArrayBuffer(a.RX_BATCH * 8);
    const rxText = new ArrayBuffer(a.RX_BATCH * a.RX_TEXT);
    const txData = a.allocBuffer(a.TX_BYTES);
    const txMeta = new ArrayBuffer(a.TX_MAX * a.TX_META * 4 + a.TX_STATUS * 4);
    this.rxData = Buffer.from(rxData);
    this.rxMeta = new Int32Array(rxMeta);
    this.rxTs = new BigInt64Array(rxTs);
    this.rxText = Buffer.from(rxText);
    this.txData = Buffer.from(txData);
    this.txMeta = new Int32Array(txMeta, 0, a.TX_MAX * a.TX_META);
    this.txMeta8 = new Uint8Array(txMeta, 0, a.TX_MAX * a.TX_META * 4);
    this.txStatus = new Int32Array(txMeta, a.TX_MAX * a.TX_META * 4, a.TX_STATUS);
    const opts: Record<string, number | boolean> = {};
    if (options.tos !== undefined) opts.tos = options.tos;
    if (options.ttl !== undefined) opts.ttl = options.ttl;
    if (options.dontFragment !== undefined) opts.dontFragment = options.dontFragment;
    if (options.recvBufferSize !== undefined) opts.recvBufferSize = options.recvBufferSize;
    if (options.sendBufferSize !== undefined) opts.sendBufferSize = options.sendBufferSize;
    const bindAddress = options.address === '' ? (family === 'IPv6' ? '::' : '0.0.0.0') : options.address;
    try {
      this.handle = addon.open(
        family === 'IPv6' ? 6 : 4,
        bindAddress,
        options.port,
        opts,
        [rxData, rxMeta, rxTs, rxText, txData, txMeta],
        (kind, n) => this.onEvent(kind, n),
      );
    } catch (e) {
      throw toErrno(e, 'bind', bindAddress, options.port);
    }
    const [fam, address, port] = addon.localAddress(this.handle);
    this.local = { address, port, family: fam === 6 ? 'IPv6' : 'IPv4' };
    bridge.acquire(this.handle);
  }

  /** Local address and port actually bound. */
  localAddress(): { address: string; port: number; family: Family } {
    return { ...this.local };
  }

  /** Sets the receive handler. */
  onMessage(handler: DatagramHandler): void {
    this.handler = handler;
  }

  /** Sets the error handler. */
  onError(handler: (err: Error) => void): void {
    this.errorHandler = handler;
  }

  /** Changes the outgoing TOS byte of the socket (DSCP << 2 | ECN). */
  setTos(tos: number): void {
    checkByte('tos', tos, 0);
    if (this.closed) throw errnoError(osConstants.errno.EBADF, 'setsockopt');
    this.addon.setOption(this.handle, OPT_TOS, tos);
  }

  /** Changes the outgoing TTL / hop limit of the socket. */
  setTtl(ttl: number): void {
    checkByte('ttl', ttl, 1);
    if (this.closed) throw errnoError(osConstants.errno.EBADF, 'setsockopt');
    this.addon.setOption(this.handle, OPT_TTL, ttl);
  }

  /** Turns Don't Fragment on or off for the socket. */
  setDontFragment(on: boolean): void {
    if (this.closed) throw errnoError(osConstants.errno.EBADF, 'setsockopt');
    this.addon.setOption(this.handle, OPT_DF, on ? 1 : 0);
  }

  /**
   * Queues `data` for `address:port`; `tos`, when given, overrides the socket's TOS for this
   * datagram only (a reflector copying the request's DSCP). Errors go to the error handler.
   */
  send(data: Buffer, port: number, address: string, tos?: number): void {
    if (this.closed) {
      this.report(errnoError(osConstants.errno.EBADF, 'send', address, port));
      return;
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      this.report(new RangeError(`send: port must be 1..65535, got ${port}`));
      return;
    }
    const t = tos === undefined ? -1 : tos;
    if (t !== -1 && !(Number.isInteger(t) && t >= 0 && t <= 255)) {
      this.report(new RangeError(`send: tos must be 0..255, got ${tos}`));
      return;
    }
    let dest = this.dests.get(address);
    if (dest === undefined) {
      if (isIP(address.split('%')[0] ?? '') === 0) {
        // A host name: resolve it (slow path, like dgram does), then queue.
        const copy = Buffer.from(data);
        lookup(address, { family: this.local.family === 'IPv4' ? 4 : 0 }, (err, addr) => {
          if (err) this.report(err);
          else this.send(copy, port, addr, tos);
        });
        return;
      }
      const parsed = this.addon.parseAddress(address);
      dest = parsed ? { family: parsed[0], words: new Int32Array(Uint8Array.from(parsed[1]).buffer), scope: parsed[2] } : null;
      if (this.dests.size >= CACHE_MAX) this.dests.clear();
      this.dests.set(address, dest);
    }
    if (dest === null) {
      this.report(new TypeError(`send: invalid address ${JSON.stringify(address)}`));
      return;
    }
    if (dest.family === 6 && this.local.family === 'IPv4') {
      this.report(errnoError(osConstants.errno.EAFNOSUPPORT, 'send', address, port));
      return;
    }
    if (data.length > 65535) {
      this.report(errnoError(osConstants.errno.EMSGSIZE, 'send', address, port));
      return;
    }
    if (this.overflow.length > 0 || !this.enqueue(data, port, dest, t)) {
      this.overflow.push({ data: Buffer.from(data), port, address, dest, tos: t });
    }
    if (!this.inBatch && !this.flushing && !this.waitingWritable) {
      // Outside a receive batch the datagram leaves now: a sender reads T1 just before send(),
      // so any delay here would be added to its round trip. (Each sender target has its own
      // socket, so there is nothing to batch with.) Errors are still reported asynchronously.
      this.deferErrors = true;
      try {
        this.flush();
      } finally {
        this.deferErrors = false;
      }
    }
  }

  /** Closes the socket; resolves once libuv has released the fd. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    // Datagrams queued before close() still go out, as with dgram.
    if (!this.waitingWritable) this.flush();
    this.closed = true;
    this.closePromise = new Promise<void>((resolve) => {
      this.resolveClose = resolve;
    });
    this.addon.close(this.handle);
    this.bridge.release(this.handle);
    return this.closePromise;
  }

  private report(err: Error): void {
    this.stats.txErrors++;
    const h = this.errorHandler;
    if (!h) return;
    if (this.deferErrors) queueMicrotask(() => h(err));
    else h(err);
  }

  /** Copies one datagram into the send arena; false when the arena is full. */
  private enqueue(data: Buffer, port: number, dest: Dest, tos: number): boolean {
    if (this.txCount >= this.txMax || this.txOffset + data.length > this.txBytes) return false;
    const row = this.txCount * this.txMetaN;
    const m = this.txMeta;
    data.copy(this.txData, this.txOffset);
    m[row + TM_OFFSET] = this.txOffset;
    m[row + TM_LEN] = data.length;
    m[row + TM_PORT] = port;
    m[row + TM_FAMILY] = dest.family;
    m[row + TM_TOS] = tos;
    m[row + TM_SCOPE] = dest.scope;
    const w = dest.words;
    m[row + TM_ADDR] = w[0]!;
    m[row + TM_ADDR + 1] = w[1]!;
    m[row + TM_ADDR + 2] = w[2]!;
    m[row + TM_ADDR + 3] = w[3]!;
    this.txOffset += (data.length + 7) & ~7;
    this.txCount++;
    return true;
  }

  /** Sends everything queued, in as few sendmmsg calls as the arena allows. */
  private flush(): void {
    // Not re-entrant: a send() from an error handler during a flush is picked up by this loop.
    if (this.flushing) return;
    this.flushing = true;
    try {
      this.flushLoop();
    } finally {
      this.flushing = false;
    }
  }

  private flushLoop(): void {
    const a = this.addon;
    while (this.txCount > 0 && !this.closed) {
      const count = this.txCount;
      a.flush(this.handle, count);
      const st = this.txStatus;
      const consumed = st[0] ?? 0;
      const again = st[1] === 1;
      const nerr = st[2] ?? 0;
      this.stats.txBatches++;
      this.stats.txPackets += consumed - nerr;
      // Describe failures before the arena moves; report them only once its state is consistent,
      // since an error handler may call send() (or close()) re-entrantly.
      const failures: Error[] = [];
      for (let k = 0; k < nerr; k++) {
        const idx = st[3 + 2 * k] ?? 0;
        const errno = st[4 + 2 * k] ?? 0;
        failures.push(errnoError(errno, 'send', this.describeDest(idx), this.txMeta[idx * a.TX_META + TM_PORT]));
      }
      if (consumed < count) this.compact(consumed);
      else {
        this.txCount = 0;
        this.txOffset = 0;
      }
      if (again) {
        this.stats.txWaits++;
        this.waitingWritable = true;
        a.wantWritable(this.handle, true);
      }
      for (const f of failures) this.report(f);
      if (again) return;
      while (this.overflow.length > 0) {
        const o = this.overflow[0]!;
        if (!this.enqueue(o.data, o.port, o.dest, o.tos)) break;
        this.overflow.shift();
      }
    }
    if (this.waitingWritable) {
      this.waitingWritable = false;
      a.wantWritable(this.handle, false);
    }
  }

  /** Moves the unsent tail of the arena (from row `from`) to its start. */
  private compact(from: number): void {
    const a = this.addon;
    const start = this.txMeta[from * a.TX_META + TM_OFFSET] ?? 0;
    this.txData.copyWithin(0, start, this.txOffset);
    this.txMeta.copyWithin(0, from * a.TX_META, this.txCount * a.TX_META);
    this.txCount -= from;
    this.txOffset -= start;
    for (let i = 0; i < this.txCount; i++) this.txMeta[i * a.TX_META + TM_OFFSET]! -= start;
  }

  private describeDest(idx: number): string {
    const row = idx * this.addon.TX_META;
    const fam = this.txMeta[row + TM_FAMILY];
    const b = this.txMeta8.subarray((row + TM_ADDR) * 4, (row + TM_ADDR) * 4 + 16);
    if (fam === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push((((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16));
    return parts.join(':');
  }

  private onEvent(kind: number, n: number): void {
    if (kind === EV_RX) this.deliver(n);
    else if (kind === EV_WRITABLE) {
      if (this.waitingWritable) this.flush();
    } else if (kind === EV_ERROR) {
      const err = errnoError(n, 'recvmmsg');
      if (this.errorHandler) this.errorHandler(err);
    } else if (kind === EV_CLOSED) {
      this.resolveClose?.();
    }
  }

  /** Presents a received batch to the handler, one datagram at a time, then flushes replies. */
  private deliver(n: number): void {
    const m = this.rxMeta;
    const handler = this.handler;
    this.stats.rxPackets += n;
    this.stats.rxBatches++;
    // The kernel reports its cumulative drop count only on packets queued after a drop.
    const drops = m[(n - 1) * this.rxMetaN + RM_DROPS]!;
    if (drops >= 0) this.stats.kernelDrops = drops;
    if (!handler) return;
    const metaN = this.rxMetaN;
    const textN = this.rxTextN;
    this.inBatch = true;
    try {
      for (let i = 0; i < n && !this.closed; i++) {
        const row = i * metaN;
        const len = m[row + RM_LEN]!;
        let data = this.slotViews[i]!;
        if (data.length !== len) {
          data = Buffer.from(this.rxAb, i * this.rxSlot, len);
          this.slotViews[i] = data;
        }
        const fam = m[row + RM_FAMILY];
        const ttl = m[row + RM_TTL]!;
        const tos = m[row + RM_TOS]!;
        const dgram: ReceivedDatagram = {
          data,
          address: fam === 4 ? this.v4Name(m[row + RM_V4]!) : this.rxText.toString('latin1', i * textN, i * textN + m[row + RM_TEXTLEN]!),
          port: m[row + RM_PORT]!,
          family: fam === 4 ? 'IPv4' : 'IPv6',
          // Already in the session clock's timebase: the addon adds ClockBridge's offset.
          rxTimeNs: this.rxTs[i]!,
          rxTimeSource: m[row + RM_KERNEL_TS] === 1 ? 'kernel' : 'user',
          ttl: ttl >= 0 ? ttl : undefined,
          tos: tos >= 0 ? tos : undefined,
        };
        handler(dgram);
      }
    } finally {
      this.inBatch = false;
      if (this.txCount > 0 && !this.waitingWritable) this.flush();
    }
  }

  private v4Name(v: number): string {
    let s = this.v4Names.get(v);
    if (s === undefined) {
      s = `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
      if (this.v4Names.size >= CACHE_MAX) this.v4Names.clear();
      this.v4Names.set(v, s);
    }
    return s;
  }
}

function checkByte(name: string, v: number, min: number): void {
  if (!Number.isInteger(v) || v < min || v > 255) throw new RangeError(`${name} must be an integer ${min}..255, got ${v}`);
}

/** Wraps an addon exception (which carries `errno`) as a Node-style errno Error. */
function toErrno(e: unknown, syscall: string, address: string, port: number): Error {
  const errno = (e as { errno?: unknown }).errno;
  if (typeof errno === 'number') {
    const err = errnoError(errno, syscall, address, port);
    err.message = `${(e as Error).message} (${address}:${port})`;
    return err;
  }
  return e instanceof Error ? e : new Error(String(e));
}

/** The native Transport: opens NativeSockets. */
export class NativeTransport implements Transport {
  readonly capabilities = NATIVE_CAPABILITIES;
  private readonly bridge: ClockBridge;

  constructor(
    private readonly addon: Addon,
    clock: Clock = systemClock,
  ) {
    this.bridge = new ClockBridge(addon, clock);
  }

  /** Opens and binds a socket; rejects on a bad option or a bind failure. */
  async open(options: SocketOptions): Promise<NativeSocket> {
    const family: Family = options.family ?? (isIP(options.address.split('%')[0] ?? '') === 6 ? 'IPv6' : 'IPv4');
    if (options.tos !== undefined) checkByte('tos', options.tos, 0);
    if (options.ttl !== undefined) checkByte('ttl', options.ttl, 1);
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      throw new RangeError(`port must be 0..65535, got ${options.port}`);
    }
    if (options.address !== '' && isIP(options.address.split('%')[0] ?? '') === 0) {
      throw new TypeError(`bind address must be an IP address, got ${JSON.stringify(options.address)}`);
    }
    return new NativeSocket(this.addon, this.bridge, family, options);
  }

  /** Re-measures the offset between the session clock and CLOCK_REALTIME now (tests, after a clock step). */
  recalibrate(): void {
    this.bridge.calibrate();
  }
}

/** Where the build step puts the addon, relative to this compiled file (dist/src/transport/). */
export const NATIVE_ADDON_PATH = new URL('../../../build/Release/twampy_native.node', import.meta.url);

let loaded: Addon | { error: string } | undefined;

function loadAddon(): Addon | { error: string } {
  if (loaded) return loaded;
  const path = fileURLToPath(NATIVE_ADDON_PATH);
  if (!existsSync(path)) {
    return (loaded = {
      error: `native addon not built (${path} is missing; run "node scripts/build-native.mjs", which needs a C compiler and Node's headers)`,
    });
  }
  try {
    const addon = createRequire(import.meta.url)(path) as Addon;
    if (addon.ABI !== EXPECTED_ABI) {
      return (loaded = { error: `native addon is stale (ABI ${addon.ABI}, expected ${EXPECTED_ABI}); rebuild with "node scripts/build-native.mjs"` });
    }
    return (loaded = addon);
  } catch (e) {
    return (loaded = { error: `native addon failed to load: ${(e as Error).message}` });
  }
}

/**
 * Loads the native transport, or says why it is unavailable (not Linux, disabled by
 * TWAMPY_NATIVE=0, not built, stale, failed to load). Never throws; the caller falls back to dgram.
 */
export function loadNativeTransport(options: { clock?: Clock } = {}): { transport: Transport } | { error: string } {
  if (process.env.TWAMPY_NATIVE === '0') return { error: 'native socket layer disabled by TWAMPY_NATIVE=0' };
  if (process.platform !== 'linux') return { error: `native socket layer is Linux-only (platform is ${process.platform})` };
  const addon = loadAddon();
  if ('error' in addon) return { error: addon.error };
  return { transport: new NativeTransport(addon, options.clock) };
}

/** Re-export so callers can `instanceof`-check refusals without importing types.ts separately. */
export { UnsupportedFeatureError };
