/**
 * The TWAMP server (RFC 5357 section 3): TWAMP-Control on TCP plus the reflector side of every
 * session it accepts. Each connection is a straight sequence of steps:
 *
 *   Server-Greeting -> Set-Up-Response -> Server-Start -> { Request-TW-Session -> Accept-Session
 *   | Start-Sessions -> Start-Ack | Stop-Sessions }*
 *
 * Modes: unauthenticated, authenticated, encrypted and mixed (RFC 5618), keys from a KeyID ->
 * secret map, plus RFC 7750 DSCP and ECN Monitoring (offered only when the socket layer reads the
 * received TOS; a client may add it to any security mode). Limits: connections (total and per peer), sessions (total and per connection),
 * an allow-list, test ports from a range. SERVWAIT: a connection with no complete control
 * message and no test packet for `servwaitMs` is closed (a silent or dribbling client is dropped
 * on time). Bad input never throws out of here: it is reported to the observer and answered with
 * the right Accept value, or the connection is closed.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import type { Clock, Scheduler, Cancel } from '../session/clock.js';
import type { Transport } from '../transport/types.js';
import type { ReflectedEvent } from '../session/events.js';
import type { CidrSet } from '../config/cidr.js';
import { normaliseAddress } from '../transport/dgram.js';
import { ControlChannel, ControlError, type ControlSocket } from './channel.js';
import { decryptToken, deriveTestKeys, deriveTokenKey, randomBytes } from './crypto.js';
import type { ControlObserver, ControlRejectReason } from './events.js';
import { ReflectorSession, type TestProtection } from './reflector-session.js';
import {
  Accept,
  BLOCK,
  Command,
  Mode,
  SECURITY_MODES,
  SETUP_RESPONSE_LENGTH,
  acceptName,
} from '../protocol/control/common.js';
import { encodeServerGreeting } from '../protocol/control/server-greeting.js';
import { decodeSetupResponse, keyIdText } from '../protocol/control/setup-response.js';
import { encodeServerStart } from '../protocol/control/server-start.js';
import { clientCommandLength, commandName } from '../protocol/control/command.js';
import { decodeRequestTwSession, dscpOfTypeP, type RequestTwSession } from '../protocol/control/request-tw-session.js';
import { encodeAcceptSession } from '../protocol/control/accept-session.js';
import { decodeStartSessions } from '../protocol/control/start-sessions.js';
import { encodeStartAck } from '../protocol/control/start-ack.js';
import { decodeStopSessions } from '../protocol/control/stop-sessions.js';
import { DecodeError } from '../protocol/errors.js';
import { writeNtp } from '../protocol/timestamp.js';

/** Server settings (CLI defaults in src/cli/control.ts). */
export interface ControlServerOptions {
  /** Security modes offered: any of Mode.UNAUTHENTICATED | AUTHENTICATED | ENCRYPTED | MIXED. */
  modes: number;
  /** KeyID -> shared secret, for the secure modes. */
  keys: Map<string, Buffer>;
  /** PBKDF2 iteration count announced in the greeting (RFC 4656: power of 2, >= 1024). */
  count: number;
  /** SERVWAIT, ms (RFC 5357 default 900 s). */
  servwaitMs: number;
  /** REFWAIT, ms (RFC 5357 default 900 s). */
  refwaitMs: number;
  maxConnections: number;
  maxConnectionsPerPeer: number;
  maxSessions: number;
  maxSessionsPerConnection: number;
  /** Control clients allowed; null = everyone. */
  allow: CidrSet | null;
  /** Test port range; null = the requested port if free, else an ephemeral one. */
  testPorts: { low: number; high: number } | null;
  /** Largest Padding Length accepted. */
  maxPadding: number;
  /** Longest Timeout honoured after Stop-Sessions, ms. */
  maxTimeoutMs: number;
  errorEstimate: number;
  /** Offer RFC 7750 DSCP and ECN Monitoring when the socket layer can read TOS (default true). */
  dscpEcn?: boolean;
}

interface ConnState {
  channel: ControlChannel;
  address: string;
  port: number;
  localAddress: string;
  mode: number;
  aesKey: Buffer | null;
  hmacKey: Buffer | null;
  sessions: ReflectorSession[];
  started: boolean;
  servwait: Cancel | null;
  lastActivityNs: bigint;
  closeReason: string | null;
  openedNs: bigint;
}

/** A TWAMP server: control connections in, reflector sessions out. */
export class ControlServer {
  private readonly servers: Server[] = [];
  private readonly conns = new Set<ConnState>();
  private sessionCount = 0;
  private portCursor = 0;
  private readonly startNs: bigint;
  private readonly usedPorts = new Set<number>();

  constructor(
    readonly options: ControlServerOptions,
    private readonly transport: Transport,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly observer: ControlObserver = {},
  ) {
    if ((options.modes & SECURITY_MODES) === 0) throw new RangeError('no security mode offered');
    this.startNs = clock.nowNs();
  }

  /** Listens on `address:port` (port 0: ephemeral; may be called for several addresses, which share the limits); resolves with the bound port. */
  listen(port: number, address: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const srv = createServer((s) => this.accept(s));
      srv.on('error', reject);
      srv.listen({ port, host: address, ipv6Only: address === '::' ? false : undefined }, () => {
        srv.off('error', reject);
        srv.on('error', () => undefined);
        this.servers.push(srv);
        const a = srv.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  /** Numbers of connections and sessions now. */
  get active(): { connections: number; sessions: number } {
    return { connections: this.conns.size, sessions: this.sessionCount };
  }

  /** Stops listening, closes every connection and session. */
  async close(): Promise<void> {
    const closing = this.servers.splice(0).map((srv) => new Promise<void>((r) => srv.close(() => r())));
    const sessions = [...this.conns].flatMap((c) => [...c.sessions]);
    for (const c of [...this.conns]) this.drop(c, 'server_closed');
    // abort() is idempotent: this waits for the test sockets that drop() began to close.
    await Promise.all(sessions.map((s) => s.abort()));
    await Promise.all(closing);
  }

  /** Serves one connection (public so that tests and other listeners can hand sockets in). */
  accept(socket: Socket | ControlSocket): void {
    const address = normaliseAddress(socket.remoteAddress ?? '');
    const port = socket.remotePort ?? 0;
    if ('setNoDelay' in socket && typeof socket.setNoDelay === 'function') socket.setNoDelay(true);
    const channel = new ControlChannel(socket, this.scheduler);
    const refuse = (reason: ControlRejectReason, detail: string): void => {
      this.observer.onConnection?.({ address, port, result: 'refused', reason });
      this.observer.onReject?.({ reason, address, port, detail });
      // Modes = 0: the server will not talk to this client (RFC 4656 section 3.1).
      channel.writeRaw(encodeServerGreeting({ modes: 0, challenge: Buffer.alloc(16), salt: Buffer.alloc(16), count: 0 }));
      channel.end();
      // A client that keeps its side open must not hold the socket (or server.close()) forever.
      this.scheduler.setTimeout(() => channel.destroy(), 2000);
    };
    if (this.options.allow && !this.options.allow.has(address)) return refuse('not_allowed', 'peer outside the allow-list');
    if (this.conns.size >= this.options.maxConnections) return refuse('connection_limit', `${this.conns.size} connections open`);
    let fromPeer = 0;
    for (const c of this.conns) if (c.address === address) fromPeer++;
    if (fromPeer >= this.options.maxConnectionsPerPeer) return refuse('peer_limit', `${fromPeer} connections from this peer`);
    const conn: ConnState = {
      channel,
      address,
      port,
      localAddress: normaliseAddress(socket.localAddress ?? ''),
      mode: 0,
      aesKey: null,
      hmacKey: null,
      sessions: [],
      started: false,
      servwait: null,
      lastActivityNs: 0n,
      closeReason: null,
      openedNs: this.clock.nowNs(),
    };
    this.conns.add(conn);
    this.observer.onConnection?.({ address, port, result: 'accepted' });
    this.reportActive();
    this.touch(conn);
    this.serve(conn).catch((err: unknown) => this.onServeError(conn, err));
  }

  private reportActive(): void {
    this.observer.onActive?.(this.conns.size, this.sessionCount);
  }

  /**
   * Restarts SERVWAIT: a complete control message or a test packet arrived. Called per test
   * packet, so it only stamps the time; one timer per connection checks the idle time when due.
   */
  private touch(conn: ConnState): void {
    conn.lastActivityNs = this.clock.nowNs();
    if (!conn.servwait) this.armServwait(conn, this.options.servwaitMs);
  }

  private armServwait(conn: ConnState, ms: number): void {
    conn.servwait = this.scheduler.setTimeout(() => {
      conn.servwait = null;
      if (!this.conns.has(conn)) return;
      const idleMs = Number(this.clock.nowNs() - conn.lastActivityNs) / 1e6;
      if (idleMs < this.options.servwaitMs) return this.armServwait(conn, Math.max(0.001, this.options.servwaitMs - idleMs));
      this.reject(conn, 'servwait_timeout', `nothing within SERVWAIT (${this.options.servwaitMs} ms)`);
      this.drop(conn, 'servwait_timeout');
    }, ms);
  }

  private reject(conn: ConnState, reason: ControlRejectReason, detail: string, accept?: number): void {
    this.observer.onReject?.({ reason, address: conn.address, port: conn.port, detail, ...(accept === undefined ? {} : { accept }) });
  }

  private drop(conn: ConnState, reason: string, graceful = false): void {
    if (!this.conns.has(conn)) return;
    this.conns.delete(conn);
    conn.closeReason ??= reason;
    conn.servwait?.();
    for (const s of conn.sessions) void s.abort();
    if (graceful) {
      // Let the last message (a refusing Server-Start) reach the client before the socket goes.
      conn.channel.end();
      this.scheduler.setTimeout(() => conn.channel.destroy(), 2000);
    } else {
      conn.channel.destroy();
    }
    this.observer.onClosed?.({
      address: conn.address,
      port: conn.port,
      mode: conn.mode,
      reason: conn.closeReason,
      durationMs: Number(this.clock.nowNs() - conn.openedNs) / 1e6,
    });
    this.reportActive();
  }

  private onServeError(conn: ConnState, err: unknown): void {
    if (err instanceof ControlError) {
      if (err.code === 'ERR_CLOSED') return this.drop(conn, conn.closeReason ?? 'client_closed');
      if (err.code === 'ERR_OVERRUN') this.reject(conn, 'overrun', err.message);
      else if (err.code === 'ERR_HMAC') this.reject(conn, 'bad_hmac', err.message);
      else if (err.code === 'ERR_TIMEOUT') this.reject(conn, 'servwait_timeout', err.message);
      return this.drop(conn, err.code === 'ERR_HMAC' ? 'bad_hmac' : err.code === 'ERR_OVERRUN' ? 'overrun' : 'protocol_error');
    }
    if (err instanceof DecodeError) {
      this.reject(conn, 'malformed', err.message);
      return this.drop(conn, 'malformed');
    }
    this.reject(conn, 'malformed', `internal: ${(err as Error)?.message ?? String(err)}`);
    this.drop(conn, 'internal_error');
  }

  private async serve(conn: ConnState): Promise<void> {
    const ch = conn.channel;
    // RFC 7750 is offered only when we can honour it: the octet needs the received TOS.
    const dscpEcn = this.options.dscpEcn !== false && this.transport.capabilities.receiveTos ? Mode.DSCP_ECN : 0;
    const offered = (this.options.modes & SECURITY_MODES) | dscpEcn;
    const challenge = randomBytes(16);
    const salt = randomBytes(16);
    ch.writeRaw(encodeServerGreeting({ modes: offered, challenge, salt, count: this.options.count }));

    const setup = decodeSetupResponse(await ch.readRaw(SETUP_RESPONSE_LENGTH, 0));
    this.touch(conn);
    const mode = setup.mode;
    const serverIv = randomBytes(16);
    const refuseStart = (reason: ControlRejectReason, accept: number, detail: string): void => {
      this.reject(conn, reason, detail, accept);
      const ss = encodeServerStart({ accept, serverIv: Buffer.alloc(16), startTimeNs: 0n });
      ch.writeRaw(ss);
      this.drop(conn, reason, true);
    };
    if (mode === 0) {
      this.reject(conn, 'client_gave_up', 'Set-Up-Response with mode 0');
      return this.drop(conn, 'client_gave_up');
    }
    // Exactly one security mode, one we offer, and no other bits than the extensions we offer.
    const security = mode & ~dscpEcn;
    const single = security === Mode.UNAUTHENTICATED || security === Mode.AUTHENTICATED || security === Mode.ENCRYPTED || security === Mode.MIXED;
    if (!single || (security & offered) === 0) {
      return refuseStart('unsupported_mode', Accept.NOT_SUPPORTED, `mode ${mode} not among offered ${offered}`);
    }
    conn.mode = mode;
    if (security !== Mode.UNAUTHENTICATED) {
      const keyId = keyIdText(setup.keyId);
      const secret = this.options.keys.get(keyId);
      if (!secret) return refuseStart('unknown_key', Accept.FAILURE, `unknown KeyID "${keyId.slice(0, 80)}"`);
      const t = decryptToken(setup.token, deriveTokenKey(secret, salt, this.options.count));
      if (!t.challenge.equals(challenge)) return refuseStart('bad_token', Accept.FAILURE, `token for KeyID "${keyId}" does not hold our challenge (wrong secret)`);
      conn.aesKey = Buffer.from(t.aesKey);
      conn.hmacKey = Buffer.from(t.hmacKey);
      ch.setKeys({ aesKey: conn.aesKey, hmacKey: conn.hmacKey, writeIv: serverIv, readIv: setup.clientIv });
    }
    const ss = encodeServerStart({ accept: Accept.OK, serverIv, startTimeNs: this.startNs });
    // The Start-Time block is the first of the server's CBC stream and opens its first HMAC.
    ch.writeClearThenPrefix(ss.subarray(0, 32), ss.subarray(32, 48));

    for (;;) {
      const first = await ch.readBlocks(BLOCK, 0);
      const command = first[0]!;
      const len = clientCommandLength(command);
      if (len === null) {
        this.reject(conn, 'unknown_command', `${commandName(command)} not implemented`);
        return this.drop(conn, 'unknown_command');
      }
      const rest = await ch.readBlocks(len - BLOCK, 0);
      const msg = Buffer.concat([first, rest]);
      if (!ch.verifyMessage(msg)) throw new ControlError('ERR_HMAC', `${commandName(command)} failed HMAC verification`);
      this.touch(conn);
      if (command === Command.REQUEST_TW_SESSION) await this.onRequest(conn, msg);
      else if (command === Command.START_SESSIONS) this.onStart(conn, msg);
      else this.onStop(conn, msg);
    }
  }

  private sendAccept(conn: ConnState, accept: number, port: number, sid: Buffer): void {
    conn.channel.sendMessage(encodeAcceptSession({ accept, port, sid, hmac: Buffer.alloc(16) }));
  }

  private async onRequest(conn: ConnState, msg: Buffer): Promise<void> {
    let req: RequestTwSession;
    try {
      req = decodeRequestTwSession(msg);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      return this.refuseRequest(conn, 'unsupported_request', Accept.NOT_SUPPORTED, err.message);
    }
    if (conn.started) return this.refuseRequest(conn, 'out_of_order', Accept.FAILURE, 'Request-TW-Session while sessions are running');
    if (req.confSender !== 0 || req.confReceiver !== 0 || req.scheduleSlots !== 0 || req.packets !== 0) {
      return this.refuseRequest(conn, 'unsupported_request', Accept.NOT_SUPPORTED, 'Conf-Sender/Conf-Receiver/schedule fields must be 0 in TWAMP');
    }
    const dscp = dscpOfTypeP(req.typeP);
    if (dscp === null) return this.refuseRequest(conn, 'unsupported_request', Accept.NOT_SUPPORTED, `Type-P Descriptor 0x${req.typeP.toString(16)} is not a DSCP`);
    if (dscp !== 0 && !this.transport.capabilities.setTos) {
      return this.refuseRequest(conn, 'unsupported_request', Accept.NOT_SUPPORTED, `DSCP ${dscp} requested; the ${this.transport.capabilities.name} socket layer cannot set it`);
    }
    if (req.paddingLength > this.options.maxPadding) {
      return this.refuseRequest(conn, 'unsupported_request', Accept.NOT_SUPPORTED, `Padding Length ${req.paddingLength} over ${this.options.maxPadding}`);
    }
    const family = conn.localAddress.includes(':') ? 6 : 4;
    if (req.ipvn !== family) return this.refuseRequest(conn, 'unsupported_request', Accept.NOT_SUPPORTED, `IPv${req.ipvn} session on an IPv${family} control connection`);
    // Reflect only to the control client itself: a third-party sender address would let anyone
    // point our reflector at someone else.
    const senderAddress = req.senderAddress ?? conn.address;
    if (normaliseAddress(senderAddress) !== conn.address) {
      return this.refuseRequest(conn, 'unsupported_request', Accept.FAILURE, `Sender Address ${senderAddress} is not the control client`);
    }
    const localAddress = req.receiverAddress ?? conn.localAddress;
    if (conn.sessions.length >= this.options.maxSessionsPerConnection) {
      return this.refuseRequest(conn, 'session_limit', Accept.PERMANENT_RESOURCE_LIMIT, `at most ${this.options.maxSessionsPerConnection} sessions per connection`);
    }
    if (this.sessionCount >= this.options.maxSessions) {
      return this.refuseRequest(conn, 'session_limit', Accept.TEMPORARY_RESOURCE_LIMIT, `${this.sessionCount} sessions running`);
    }
    const socket = await this.openTestSocket(localAddress, req.receiverPort, dscp);
    if (!socket) return this.refuseRequest(conn, 'no_port', Accept.TEMPORARY_RESOURCE_LIMIT, 'no allowed test port is free');
    const port = socket.localAddress().port;
    const sid = this.makeSid(localAddress);
    let protection: TestProtection = { security: 'none' };
    const security = conn.mode & SECURITY_MODES;
    if (security === Mode.AUTHENTICATED || security === Mode.ENCRYPTED) {
      protection = {
        security: security === Mode.AUTHENTICATED ? 'authenticated' : 'encrypted',
        keys: deriveTestKeys(sid, conn.aesKey!, conn.hmacKey!),
      };
    }
    const sidHex = sid.toString('hex');
    this.usedPorts.add(port);
    const session: ReflectorSession = new ReflectorSession({
      socket,
      protection,
      senderAddress: conn.address,
      senderPort: req.senderPort,
      paddingLength: req.paddingLength,
      timeoutMs: Math.min(this.options.maxTimeoutMs, Number(req.timeoutNs / 1_000_000n)),
      refwaitMs: this.options.refwaitMs,
      maxRequestBytes: 65_507,
      errorEstimate: this.options.errorEstimate,
      dscpEcn: (conn.mode & Mode.DSCP_ECN) !== 0,
      clock: this.clock,
      scheduler: this.scheduler,
      onActivity: () => this.touch(conn),
      onDrop: (reason, address) => this.observer.onTestDrop?.(reason, address),
      ...(this.observer.onReflected ? { onReflected: (e: ReflectedEvent) => this.observer.onReflected!(e) } : {}),
      onEnd: (outcome, reflected) => {
        this.usedPorts.delete(port);
        this.sessionCount--;
        const i = conn.sessions.indexOf(session);
        if (i >= 0) conn.sessions.splice(i, 1);
        if (conn.sessions.length === 0) conn.started = false;
        this.observer.onSession?.({ outcome, address: conn.address, port, sid: sidHex, reflected });
        this.reportActive();
      },
    });
    conn.sessions.push(session);
    this.sessionCount++;
    this.sendAccept(conn, Accept.OK, port, sid);
    this.observer.onSession?.({ outcome: 'accepted', address: conn.address, port, sid: sidHex });
    this.reportActive();
  }

  private refuseRequest(conn: ConnState, reason: ControlRejectReason, accept: number, detail: string): void {
    this.reject(conn, reason, `${acceptName(accept)}: ${detail}`, accept);
    this.observer.onSession?.({ outcome: 'rejected', address: conn.address, port: 0, sid: '', accept });
    this.sendAccept(conn, accept, 0, Buffer.alloc(16));
  }

  private onStart(conn: ConnState, msg: Buffer): void {
    decodeStartSessions(msg);
    const pending = conn.sessions.filter((s) => !s.running);
    if (pending.length === 0) {
      this.reject(conn, 'out_of_order', 'Start-Sessions with no session to start', Accept.FAILURE);
      conn.channel.sendMessage(encodeStartAck({ accept: Accept.FAILURE, hmac: Buffer.alloc(16) }));
      return;
    }
    for (const s of pending) s.start();
    conn.started = true;
    conn.channel.sendMessage(encodeStartAck({ accept: Accept.OK, hmac: Buffer.alloc(16) }));
  }

  private onStop(conn: ConnState, msg: Buffer): void {
    const stop = decodeStopSessions(msg);
    const running = conn.sessions.filter((s) => s.running);
    if (stop.numberOfSessions !== running.length) {
      // RFC 5357 3.8: a wrong count is the client's bug; stop what is running anyway, and say so.
      this.reject(conn, 'out_of_order', `Stop-Sessions says ${stop.numberOfSessions} sessions, ${running.length} are running`);
    }
    for (const s of running) s.stop();
    // Sessions accepted but never started end with the connection's next Start or its close.
  }

  private makeSid(localAddress: string): Buffer {
    // RFC 4656 3.5: receiver address (IPv6: a 4-octet digest of it), timestamp, 4 random octets.
    const sid = Buffer.alloc(16);
    if (localAddress.includes(':')) createHash('sha1').update(localAddress).digest().copy(sid, 0, 0, 4);
    else Buffer.from(localAddress.split('.').map(Number)).copy(sid, 0);
    writeNtp(sid, 4, this.clock.nowNs());
    randomBytes(4).copy(sid, 12);
    return sid;
  }

  /** Binds the requested port when allowed and free, else one from the range (or ephemeral). */
  private async openTestSocket(address: string, requested: number, dscp: number) {
    const range = this.options.testPorts;
    const tos = dscp ? dscp << 2 : undefined;
    const tryPort = async (port: number) => {
      if (port !== 0 && this.usedPorts.has(port)) return null;
      try {
        // TTL 255 as twampd does: the sender reads 255 - TTL as the hop count of the reply.
        return await this.transport.open({ address, port, ttl: 255, ...(tos === undefined ? {} : { tos }) });
      } catch {
        return null;
      }
    };
    const allowed = (p: number) => p !== 0 && (range ? p >= range.low && p <= range.high : p >= 1024);
    if (allowed(requested)) {
      const s = await tryPort(requested);
      if (s) return s;
    }
    if (!range) return tryPort(0);
    const size = range.high - range.low + 1;
    for (let i = 0; i < Math.min(size, 256); i++) {
      const port = range.low + ((this.portCursor + i) % size);
      const s = await tryPort(port);
      if (s) {
        this.portCursor = (port - range.low + 1) % size;
        return s;
      }
    }
    return null;
  }
}
