/**
 * The TWAMP Control-Client (RFC 5357 section 3): a straight sequence of steps, each with its own
 * timeout. It negotiates a mode (open, authenticated, encrypted, mixed), requests sessions,
 * honours the port each Accept-Session returns (retrying once with a server's alternate port),
 * starts them and stops them with the real session count. It sends no test packets itself.
 * With `dscpEcn` it also asks for RFC 7750 DSCP and ECN Monitoring (mode bit 256), and gives up
 * with ERR_UNSUPPORTED when the server does not offer it (measuring without it would leave the
 * sender reading padding as a DSCP).
 */
import { connect as netConnect } from 'node:net';
import type { Scheduler } from '../session/clock.js';
import { ControlChannel, ControlError, type ControlSocket } from './channel.js';
import { deriveTestKeys, deriveTokenKey, encryptToken, randomBytes, type TestKeys } from './crypto.js';
import {
  ACCEPT_SESSION_LENGTH,
  Accept,
  Mode,
  SERVER_GREETING_LENGTH,
  SERVER_START_LENGTH,
  START_ACK_LENGTH,
  acceptName,
  ipVersion,
} from '../protocol/control/common.js';
import { decodeServerGreeting } from '../protocol/control/server-greeting.js';
import { encodeSetupResponse, keyIdBytes } from '../protocol/control/setup-response.js';
import { decodeServerStart } from '../protocol/control/server-start.js';
import { encodeRequestTwSession, typePForDscp } from '../protocol/control/request-tw-session.js';
import { decodeAcceptSession } from '../protocol/control/accept-session.js';
import { encodeStartSessions } from '../protocol/control/start-sessions.js';
import { decodeStartAck } from '../protocol/control/start-ack.js';
import { encodeStopSessions } from '../protocol/control/stop-sessions.js';
import { normaliseAddress } from '../transport/dgram.js';

/** Mode names as the CLI spells them. */
export type ModeName = 'open' | 'authenticated' | 'encrypted' | 'mixed';

/** Mode bit of a mode name. */
export function modeBit(name: ModeName): number {
  switch (name) {
    case 'open':
      return Mode.UNAUTHENTICATED;
    case 'authenticated':
      return Mode.AUTHENTICATED;
    case 'encrypted':
      return Mode.ENCRYPTED;
    case 'mixed':
      return Mode.MIXED;
  }
}

/** Client settings. */
export interface ControlClientOptions {
  host: string;
  port: number;
  mode: ModeName;
  /** KeyID and shared secret for the secure modes. */
  keyId?: string;
  secret?: Buffer;
  /** Timeout of each step (connect, each reply), ms. */
  timeoutMs: number;
  /** Largest PBKDF2 count we accept from a server (a huge one would stall us). */
  maxCount: number;
  scheduler: Scheduler;
  /** Local address to connect from. */
  localAddress?: string;
  /** Ask for RFC 7750 DSCP and ECN Monitoring. */
  dscpEcn?: boolean;
}

/** A session request as the client sees it. */
export interface SessionRequest {
  /** Our test socket's port (the Session-Sender's source port). */
  senderPort: number;
  /** Port we would like the reflector to use (0: let the server choose). */
  receiverPort: number;
  /** Explicit addresses; omitted: zero, i.e. the control connection's. */
  senderAddress?: string;
  receiverAddress?: string;
  paddingLength: number;
  /** Start time, ns since the Unix epoch; 0n: as soon as Start-Sessions arrives. */
  startTimeNs: bigint;
  /** How long the reflector keeps reflecting after Stop-Sessions, ns. */
  timeoutNs: bigint;
  dscp: number;
}

/** An accepted session. */
export interface AcceptedSession {
  /** The port to send test packets to (from Accept-Session). */
  port: number;
  sid: Buffer;
  /** Test keys in authenticated and encrypted modes, null otherwise. */
  testKeys: TestKeys | null;
}

/** A negotiated control connection. */
export class ControlClient {
  private accepted = 0;
  private started = 0;
  /** Server-Greeting modes. */
  serverModes = 0;
  /** Server-Start Start-Time, ns since the Unix epoch (0n when the server sent zero). */
  serverStartNs = 0n;
  private aesKey: Buffer | null = null;
  private hmacKey: Buffer | null = null;

  private constructor(
    private readonly channel: ControlChannel,
    readonly options: ControlClientOptions,
    /** Address of the server as connected (the test target address). */
    readonly serverAddress: string,
    /** Our address on the control connection. */
    readonly localAddress: string,
  ) {}

  /** Connects, reads the greeting, sets up the chosen mode; rejects with a ControlError. */
  static async connect(o: ControlClientOptions): Promise<ControlClient> {
    const socket = await connectTcp(o);
    const channel = new ControlChannel(socket, o.scheduler);
    const client = new ControlClient(
      channel,
      o,
      normaliseAddress(socket.remoteAddress ?? o.host),
      normaliseAddress(socket.localAddress ?? ''),
    );
    try {
      await client.setup();
    } catch (err) {
      channel.destroy();
      throw err;
    }
    return client;
  }

  private async setup(): Promise<void> {
    const o = this.options;
    const ch = this.channel;
    const g = decodeServerGreeting(await ch.readRaw(SERVER_GREETING_LENGTH, o.timeoutMs));
    this.serverModes = g.modes;
    if (g.modes === 0) throw new ControlError('ERR_REFUSED', 'server greeting offers no mode: the server refuses this client');
    const want = modeBit(o.mode);
    if ((g.modes & want) === 0) {
      ch.writeRaw(encodeSetupResponse({ mode: 0, keyId: Buffer.alloc(0), token: Buffer.alloc(0), clientIv: Buffer.alloc(0) }));
      throw new ControlError('ERR_AUTH', `server does not offer ${o.mode} mode (offers 0x${g.modes.toString(16)})`);
    }
    if (o.dscpEcn && (g.modes & Mode.DSCP_ECN) === 0) {
      ch.writeRaw(encodeSetupResponse({ mode: 0, keyId: Buffer.alloc(0), token: Buffer.alloc(0), clientIv: Buffer.alloc(0) }));
      throw new ControlError('ERR_UNSUPPORTED', `server does not offer DSCP and ECN Monitoring (RFC 7750, mode 256; offers 0x${g.modes.toString(16)})`);
    }
    const modeWord = want | (o.dscpEcn ? Mode.DSCP_ECN : 0);
    if (want === Mode.UNAUTHENTICATED) {
      ch.writeRaw(encodeSetupResponse({ mode: modeWord, keyId: Buffer.alloc(0), token: Buffer.alloc(0), clientIv: Buffer.alloc(0) }));
    } else {
      if (!o.keyId || !o.secret) throw new ControlError('ERR_AUTH', `${o.mode} mode needs a KeyID and a secret`);
      if (g.count < 1 || g.count > o.maxCount) throw new ControlError('ERR_AUTH', `server PBKDF2 count ${g.count} outside 1..${o.maxCount}`);
      this.aesKey = randomBytes(16);
      this.hmacKey = randomBytes(32);
      const clientIv = randomBytes(16);
      const token = encryptToken({ challenge: g.challenge, aesKey: this.aesKey, hmacKey: this.hmacKey }, deriveTokenKey(o.secret, g.salt, g.count));
      ch.writeRaw(encodeSetupResponse({ mode: modeWord, keyId: keyIdBytes(o.keyId), token, clientIv }));
      // The server's IV arrives in Server-Start; our stream starts with our first command.
      const head = await ch.readRaw(32, o.timeoutMs);
      const accept = head[15]!;
      if (accept !== Accept.OK) {
        throw new ControlError('ERR_AUTH', `server refused the set-up: ${acceptName(accept)} (wrong KeyID or secret?)`, accept);
      }
      ch.setKeys({ aesKey: this.aesKey, hmacKey: this.hmacKey, writeIv: clientIv, readIv: Buffer.from(head.subarray(16, 32)) });
      const last = await ch.readBlocks(16, o.timeoutMs);
      ch.addRecvPrefix(last);
      this.serverStartNs = decodeServerStart(Buffer.concat([head, last])).startTimeNs;
      return;
    }
    const ss = decodeServerStart(await ch.readRaw(SERVER_START_LENGTH, o.timeoutMs));
    if (ss.accept !== Accept.OK) throw new ControlError('ERR_REFUSED', `server refused the set-up: ${acceptName(ss.accept)}`, ss.accept);
    this.serverStartNs = ss.startTimeNs;
  }

  /** Requests one session; on a refusal with an alternate port, asks once more for that port. */
  async requestSession(r: SessionRequest): Promise<AcceptedSession> {
    let receiverPort = r.receiverPort;
    for (let attempt = 0; attempt < 2; attempt++) {
      const ipvn = ipVersion(this.serverAddress);
      this.channel.sendMessage(
        encodeRequestTwSession({
          ipvn,
          confSender: 0,
          confReceiver: 0,
          scheduleSlots: 0,
          packets: 0,
          senderPort: r.senderPort,
          receiverPort,
          senderAddress: r.senderAddress ?? null,
          receiverAddress: r.receiverAddress ?? null,
          sid: Buffer.alloc(16),
          paddingLength: r.paddingLength,
          startTimeNs: r.startTimeNs,
          timeoutNs: r.timeoutNs,
          typeP: typePForDscp(r.dscp),
          hmac: Buffer.alloc(16),
        }),
      );
      const a = decodeAcceptSession(await this.channel.readMessage(ACCEPT_SESSION_LENGTH, this.options.timeoutMs));
      if (a.accept === Accept.OK) {
        if (a.port === 0) throw new ControlError('ERR_PROTOCOL', 'Accept-Session accepted with port 0');
        this.accepted++;
        const testKeys =
          this.aesKey && this.hmacKey && (this.options.mode === 'authenticated' || this.options.mode === 'encrypted')
            ? deriveTestKeys(a.sid, this.aesKey, this.hmacKey)
            : null;
        return { port: a.port, sid: a.sid, testKeys };
      }
      // RFC 5357 3.5: a refusal may suggest an alternate port; try it once.
      if (a.port !== 0 && attempt === 0 && a.port !== receiverPort) {
        receiverPort = a.port;
        continue;
      }
      throw new ControlError('ERR_REFUSED', `session refused: ${acceptName(a.accept)}`, a.accept);
    }
    throw new ControlError('ERR_REFUSED', 'session refused');
  }

  /** Sends Start-Sessions and waits for Start-Ack. */
  async startSessions(): Promise<void> {
    this.channel.sendMessage(encodeStartSessions({ hmac: Buffer.alloc(16) }));
    const ack = decodeStartAck(await this.channel.readMessage(START_ACK_LENGTH, this.options.timeoutMs));
    if (ack.accept !== Accept.OK) throw new ControlError('ERR_REFUSED', `Start-Sessions refused: ${acceptName(ack.accept)}`, ack.accept);
    this.started += this.accepted;
    this.accepted = 0;
  }

  /** Sends Stop-Sessions with the number of sessions in progress (defaults to the real count). */
  stopSessions(count = this.started, accept = Accept.OK): void {
    this.channel.sendMessage(encodeStopSessions({ accept, numberOfSessions: count, hmac: Buffer.alloc(16) }));
    this.started = 0;
  }

  /** Sessions started and not yet stopped. */
  get sessionsInProgress(): number {
    return this.started;
  }

  /** Closes the control connection gracefully. */
  close(): void {
    this.channel.end();
  }

  /** Sends raw bytes (tests use it to misbehave). */
  writeRaw(b: Buffer): void {
    this.channel.writeRaw(b);
  }
}

function connectTcp(o: ControlClientOptions): Promise<ControlSocket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: o.host, port: o.port, ...(o.localAddress ? { localAddress: o.localAddress } : {}) });
    s.setNoDelay(true);
    const cancel = o.scheduler.setTimeout(() => {
      s.destroy();
      reject(new ControlError('ERR_TIMEOUT', `connect to ${o.host}:${o.port} timed out after ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    s.once('connect', () => {
      cancel();
      resolve(s);
    });
    s.once('error', (e) => {
      cancel();
      reject(new ControlError('ERR_CLOSED', `cannot connect to ${o.host}:${o.port}: ${e.message}`));
    });
  });
}
