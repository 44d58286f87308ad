/**
 * Full-TWAMP commands (RFC 5357 TWAMP-Control):
 *
 * - `twampy server [listen..]`: the TWAMP server (control on TCP 862 plus the reflector of every
 *   accepted session), open / authenticated / encrypted / mixed modes.
 * - `twampy controller TARGET`: negotiate with any TWAMP server, run the sessions with the light
 *   sender's options, report the same statistics (and JSON) as `twampy sender`.
 * - `twampy controlclient SENDER [SERVER]`: negotiation only, as in nokia/twampy; the test
 *   packets come from another sender at SENDER.
 *
 * Registered by main.ts through `controlCommands`. Exit codes as for the sender; a refusal by the
 * server is a runtime error (3).
 */
import type { Argv, CommandModule } from 'yargs';
import { systemClock, systemScheduler } from '../session/clock.js';
import type { SenderObserver } from '../session/events.js';
import { chooseTransport } from '../app/transport.js';
import { combineSenderObservers } from '../app/observers.js';
import { formatHostPort } from '../app/responder-app.js';
import { Logger, type Verbosity } from '../app/log.js';
import { CidrSet } from '../config/cidr.js';
import { parseHostPort, resolveHost, UsageError } from '../config/targets.js';
import { clockFromArgs, senderAppOptionsFromArgs, tosFromArgs, type Args } from '../config/options.js';
import { senderOptions, telemetryOptions } from './parser.js';
import { createPrinter } from './printer.js';
import { startTelemetryFromArgs } from './telemetry-hook.js';
import { ControlServer, type ControlServerOptions } from '../control/server.js';
import { ControlClient, type ModeName } from '../control/client.js';
import { ControlError } from '../control/channel.js';
import { startControlled } from '../control/controller.js';
import { loadKeyFile } from '../control/keys.js';
import { combineControlObservers, type ControlObserver } from '../control/events.js';
import { Mode, acceptName } from '../protocol/control/common.js';

/** IANA TWAMP-Control port (RFC 5357 section 3.1, RFC 8545). */
export const CONTROL_PORT = 862;

/** Server defaults (RFC 5357: SERVWAIT and REFWAIT 900 s). */
export const CONTROL_DEFAULTS = {
  listen: `[::]:${CONTROL_PORT}`,
  servwaitS: 900,
  refwaitS: 900,
  maxConnections: 64,
  maxConnectionsPerPeer: 8,
  maxSessions: 256,
  maxSessionsPerConnection: 16,
  /** RFC 4656 3.1: a power of 2, at least 1024. */
  pbkdf2Count: 1024,
  maxCount: 1 << 20,
  maxPadding: 9000,
  maxTimeoutS: 60,
  controlTimeoutS: 10,
  sessionTimeoutS: 2,
} as const;

const MODE_NAMES: readonly ModeName[] = ['open', 'authenticated', 'encrypted', 'mixed'];

function verbosityOf(args: Args): Verbosity {
  return args.quiet ? 0 : args.verbose ? 2 : 1;
}

function numArg(args: Args, key: string, min: number, max: number): number {
  const v = args[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
    throw new UsageError(`--${key} must be a number between ${min} and ${max}, got ${String(v)}`);
  }
  return v;
}

/** Parses `--test-ports LOW-HIGH`. */
export function parsePortRange(text: string): { low: number; high: number } {
  const m = /^(\d+)-(\d+)$/.exec(text.trim());
  const low = m ? Number(m[1]) : NaN;
  const high = m ? Number(m[2]) : NaN;
  if (!m || low < 1 || high > 65535 || low > high) throw new UsageError(`--test-ports "${text}": expected LOW-HIGH with 1 <= LOW <= HIGH <= 65535`);
  return { low, high };
}

/** Parses `--modes open,authenticated,...` into mode bits. */
export function parseModes(text: string): number {
  let bits = 0;
  for (const part of text.split(',').map((p) => p.trim().toLowerCase()).filter(Boolean)) {
    const i = MODE_NAMES.indexOf(part as ModeName);
    if (i < 0) throw new UsageError(`--modes: unknown mode "${part}" (use ${MODE_NAMES.join(', ')})`);
    bits |= [Mode.UNAUTHENTICATED, Mode.AUTHENTICATED, Mode.ENCRYPTED, Mode.MIXED][i]!;
  }
  if (bits === 0) throw new UsageError('--modes is empty');
  return bits;
}

function keysFromArgs(args: Args): Map<string, Buffer> {
  const file = args['key-file'] as string | undefined;
  if (!file) return new Map();
  try {
    return loadKeyFile(file);
  } catch (err) {
    throw new UsageError(`--key-file: ${(err as Error).message}`);
  }
}

/** KeyID and secret of a client from --key-id and --key-file. */
function clientKey(args: Args, mode: ModeName): { keyId?: string; secret?: Buffer } {
  if (mode === 'open') return {};
  const keyId = args['key-id'] as string | undefined;
  if (!keyId) throw new UsageError(`--mode ${mode} needs --key-id and --key-file`);
  const keys = keysFromArgs(args);
  const secret = keys.get(keyId);
  if (!secret) throw new UsageError(`--key-file has no key for KeyID "${keyId}"`);
  return { keyId, secret };
}

function clientModeOptions<T>(y: Argv<T>) {
  return y
    .option('mode', { type: 'string', choices: MODE_NAMES as unknown as string[], default: 'open', describe: 'TWAMP mode: open, authenticated, encrypted, or mixed (RFC 5618: encrypted control, open test packets)' })
    .option('key-id', { type: 'string', describe: 'KeyID (user name, up to 80 octets) for authenticated, encrypted and mixed modes' })
    .option('key-file', { type: 'string', describe: 'Key file: lines "KEYID HEX-PASSPHRASE" (perfSONAR pfstore format, e.g. twamp-server.pfs)' })
    .option('control-timeout', { type: 'number', default: CONTROL_DEFAULTS.controlTimeoutS, describe: 'Seconds to wait for each control reply' });
}

// ---------------------------------------------------------------------------------------------
// server

function serverOptionsFromArgs(args: Args): { listen: { host: string; port: number }[]; options: ControlServerOptions } {
  const listenArgs = ((args.listen as string[] | undefined) ?? []).map(String);
  const listen = (listenArgs.length ? listenArgs : [CONTROL_DEFAULTS.listen]).map((l) => parseHostPort(l, CONTROL_PORT, 'listen address'));
  const keys = keysFromArgs(args);
  const modes = args.modes === undefined ? Mode.UNAUTHENTICATED | (keys.size > 0 ? Mode.AUTHENTICATED | Mode.ENCRYPTED | Mode.MIXED : 0) : parseModes(String(args.modes));
  if (modes & ~Mode.UNAUTHENTICATED && keys.size === 0) throw new UsageError('authenticated, encrypted and mixed modes need --key-file');
  const count = numArg(args, 'pbkdf2-count', 1024, 1 << 24);
  if ((count & (count - 1)) !== 0) throw new UsageError('--pbkdf2-count must be a power of 2 (RFC 4656 section 3.1)');
  let allow: CidrSet | null = null;
  const allowArgs = ((args.allow as string[] | undefined) ?? []).map(String);
  if (allowArgs.length) {
    try {
      allow = new CidrSet(allowArgs);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  return {
    listen,
    options: {
      modes,
      keys,
      count,
      servwaitMs: numArg(args, 'servwait', 1, 86_400) * 1000,
      refwaitMs: numArg(args, 'refwait', 1, 86_400) * 1000,
      maxConnections: numArg(args, 'max-connections', 1, 100_000),
      maxConnectionsPerPeer: numArg(args, 'max-connections-per-peer', 1, 100_000),
      maxSessions: numArg(args, 'max-sessions', 1, 100_000),
      maxSessionsPerConnection: numArg(args, 'max-sessions-per-connection', 1, 10_000),
      allow,
      testPorts: args['test-ports'] === undefined ? null : parsePortRange(String(args['test-ports'])),
      maxPadding: numArg(args, 'max-padding', 0, 65_000),
      maxTimeoutMs: numArg(args, 'max-timeout', 0, 3600) * 1000,
      errorEstimate: clockFromArgs(args).errorEstimate,
    },
  };
}

/** Runs the TWAMP server until SIGINT/SIGTERM. `extra` observers are for tests and telemetry. */
export async function runServer(
  args: Args,
  extra: ControlObserver[] = [],
  announce?: (line: string) => void,
): Promise<{ close(): Promise<void>; ports: number[]; reloadKeys(): number }> {
  const { listen, options } = serverOptionsFromArgs(args);
  const log = new Logger(verbosityOf(args));
  const { transport } = await chooseTransport();
  const counts = { connections: 0, accepted: 0, rejected: 0, completed: 0, timedOut: 0, aborted: 0 };
  const logObserver: ControlObserver = {
    onConnection: (e) => {
      counts.connections++;
      log.debug(`control connection from ${formatHostPort(e.address, e.port)}: ${e.result}${e.reason ? ` (${e.reason})` : ''}`);
    },
    onReject: (e) => log.limited(`reject:${e.reason}`, `${formatHostPort(e.address, e.port)}: ${e.reason}: ${e.detail}`),
    onSession: (e) => {
      if (e.outcome === 'accepted') counts.accepted++;
      else if (e.outcome === 'rejected') counts.rejected++;
      else if (e.outcome === 'completed') counts.completed++;
      else if (e.outcome === 'timed_out') counts.timedOut++;
      else counts.aborted++;
      if (e.outcome !== 'rejected') log.debug(`session ${e.sid} with ${e.address} on port ${e.port}: ${e.outcome}${e.reflected === undefined ? '' : ` (${e.reflected} reflected)`}`);
    },
  };
  const observer = combineControlObservers([logObserver, ...extra]);
  const server = new ControlServer(options, transport, systemClock, systemScheduler, observer);
  const ports: number[] = [];
  try {
    // One server for every listen address, so that the limits and the test ports are shared.
    for (const l of listen) ports.push(await server.listen(l.port, l.host));
  } catch (err) {
    await server.close();
    throw new Error(`cannot listen: ${(err as Error).message}`);
  }
  // RFC 7750 is offered only when the socket layer reads the received TOS (see ControlServer).
  const modeNames = MODE_NAMES.filter((_, i) => options.modes & [1, 2, 4, 8][i]!).join(', ') + (transport.capabilities.receiveTos ? ', dscp-ecn (RFC 7750)' : '');
  (announce ?? ((l: string) => log.warn(l)))(
    `TWAMP server on ${listen.map((l, i) => formatHostPort(l.host, ports[i]!)).join(', ')} (modes: ${modeNames}; test ports: ${
      options.testPorts ? `${options.testPorts.low}-${options.testPorts.high}` : 'requested or ephemeral'
    })`,
  );
  const close = () => server.close();
  /** Re-reads --key-file into the live key map (SIGHUP); keeps the old keys when the file is bad. */
  const reloadKeys = (): number => {
    const fresh = keysFromArgs(args);
    options.keys.clear();
    for (const [k, v] of fresh) options.keys.set(k, v);
    return options.keys.size;
  };
  return { close, ports, reloadKeys };
}

async function runServerCommand(args: Args): Promise<void> {
  const log = new Logger(verbosityOf(args));
  const counts = { sessions: 0, rejected: 0 };
  const telemetry = await startTelemetryFromArgs(args, log);
  let srv;
  try {
    srv = await runServer(args, [
      { onSession: (e) => { if (e.outcome === 'accepted') counts.sessions++; else if (e.outcome === 'rejected') counts.rejected++; } },
      ...(telemetry ? [telemetry.control()] : []),
    ]);
  } catch (err) {
    await telemetry?.shutdown();
    throw err;
  }
  telemetry?.setReady(true);
  if (telemetry?.metricsUrl) log.warn(`metrics on ${telemetry.metricsUrl}`);
  const onHup = () => {
    if (!args['key-file']) return;
    try {
      log.warn(`key file reloaded: ${srv.reloadKeys()} keys`);
    } catch (err) {
      log.error(`key file not reloaded, keeping the current keys: ${(err as Error).message}`);
    }
  };
  process.on('SIGHUP', onHup);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.off('SIGHUP', onHup);
  await srv.close();
  await telemetry?.shutdown();
  if (log.verbosity > 0) process.stderr.write(`twampy: server stopped: ${counts.sessions} sessions accepted, ${counts.rejected} refused\n`);
}

// ---------------------------------------------------------------------------------------------
// controller

/** Runs the controller; resolves with the exit code. */
export async function runController(args: Args, extraObservers: SenderObserver[] = []): Promise<number> {
  const target = parseHostPort(String(args.target), CONTROL_PORT);
  const appOpts = senderAppOptionsFromArgs(args, [target]);
  const mode = String(args.mode) as ModeName;
  const key = clientKey(args, mode);
  const tos = tosFromArgs(args);
  const sessions = numArg(args, 'sessions', 1, 64);
  const verbosity = verbosityOf(args);
  const log = new Logger(verbosity);
  const resolved = await resolveHost(target.host, appOpts.family);
  const { transport } = await chooseTransport();
  const telemetry = await startTelemetryFromArgs(args, log);
  if (telemetry) {
    extraObservers = [...extraObservers, telemetry.sender()];
    if (telemetry.metricsUrl) log.warn(`metrics on ${telemetry.metricsUrl}`);
  }
  const printer = createPrinter({
    json: args.json === true,
    verbosity,
    replyLines: appOpts.sender.count > 0 || verbosity === 2,
    write: (t) => process.stdout.write(t + '\n'),
  });
  const totals = new Map<string, { sent: number; received: number }>();
  const tally: SenderObserver = {
    onStats: (e) => {
      if (e.final) totals.set(e.stats.target, { sent: e.stats.sent, received: e.stats.received });
    },
  };
  const run = await startControlled(
    {
      name: target.name,
      host: resolved.address,
      controlPort: target.port,
      mode,
      ...key,
      sessions,
      receiverPort: numArg(args, 'test-port', 0, 65535),
      dscp: tos === undefined ? 0 : tos >> 2,
      sessionTimeoutMs: numArg(args, 'session-timeout', 0, 3600) * 1000,
      controlTimeoutMs: numArg(args, 'control-timeout', 0.1, 3600) * 1000,
      maxCount: CONTROL_DEFAULTS.maxCount,
      sender: appOpts.sender,
    },
    transport,
    systemClock,
    systemScheduler,
    combineSenderObservers([printer, tally, ...extraObservers]),
  ).catch((err: unknown) => {
    void telemetry?.shutdown();
    if (err instanceof ControlError) throw new Error(`${target.name}: ${err.message}`);
    throw err;
  });
  telemetry?.setReady(true);
  log.debug(`${target.name}: ${mode} mode, ${sessions} session(s) on reflector port(s) ${run.ports.join(', ')}`);
  const stopped = new Promise<void>((resolve) => {
    const stop = () => void run.stop(true).then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await Promise.race([appOpts.sender.count === 0 ? new Promise<void>(() => {}) : run.done, stopped]);
  await run.stop(false);
  await telemetry?.shutdown();
  for (const t of totals.values()) if (t.sent > 0 && t.received === 0) return 1;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// controlclient

/** Negotiates sessions for an external sender and holds them until `--duration` or a signal. */
export async function runControlClient(args: Args, announce: (line: string) => void = (l) => process.stdout.write(l + '\n')): Promise<number> {
  const sender = parseHostPort(String(args.sender), 20000, 'test sender');
  const server = parseHostPort(String(args.server ?? args.sender), 0, 'TWAMP server');
  const mode = String(args.mode) as ModeName;
  const key = clientKey(args, mode);
  const tos = tosFromArgs(args);
  const serverAddr = await resolveHost(server.host);
  const senderAddr = await resolveHost(sender.host, serverAddr.family === 'IPv6' ? 6 : 4);
  const client = await ControlClient.connect({
    host: serverAddr.address,
    port: numArg(args, 'control-port', 1, 65535),
    mode,
    ...key,
    timeoutMs: numArg(args, 'control-timeout', 0.1, 3600) * 1000,
    maxCount: CONTROL_DEFAULTS.maxCount,
    scheduler: systemScheduler,
  }).catch((err: unknown) => {
    throw new Error(err instanceof ControlError ? err.message : String(err));
  });
  try {
    const padding = numArg(args, 'padding', 0, 65_000);
    const acc = await client.requestSession({
      senderPort: sender.port,
      receiverPort: server.port,
      senderAddress: senderAddr.address,
      paddingLength: padding,
      startTimeNs: 0n,
      timeoutNs: BigInt(Math.round(numArg(args, 'session-timeout', 0, 3600) * 1e9)),
      dscp: tos === undefined ? 0 : tos >> 2,
    });
    await client.startSessions();
    announce(
      `session started: send TWAMP-Test packets from ${formatHostPort(senderAddr.address, sender.port)} to ${formatHostPort(serverAddr.address, acc.port)}` +
        (mode === 'authenticated' || mode === 'encrypted' ? ` (${mode} test packets, SID ${acc.sid.toString('hex')})` : ''),
    );
    const durationS = args.duration === undefined ? 0 : numArg(args, 'duration', 0, 31_536_000);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      if (durationS > 0) systemScheduler.setTimeout(stop, durationS * 1000);
    });
    client.stopSessions();
    return 0;
  } catch (err) {
    if (err instanceof ControlError) throw new Error(`${err.message}${err.accept === undefined ? '' : ` (Accept ${err.accept}: ${acceptName(err.accept)})`}`);
    throw err;
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// yargs modules

const serverCommand: CommandModule<object, Args> = {
  command: 'server [listen..]',
  describe: `TWAMP server (RFC 5357): TWAMP-Control on TCP ${CONTROL_PORT} and the reflector of every negotiated session`,
  builder: (y) =>
    telemetryOptions(y)
      .positional('listen', { type: 'string', array: true, describe: `Address:port of TWAMP-Control (default ${CONTROL_DEFAULTS.listen}, dual-stack)` })
      .option('modes', { type: 'string', describe: 'Modes offered, comma-separated: open, authenticated, encrypted, mixed (default: open, plus the others when --key-file is given)' })
      .option('key-file', { type: 'string', describe: 'Key file: lines "KEYID HEX-PASSPHRASE" (perfSONAR pfstore format); re-read on SIGHUP' })
      .option('pbkdf2-count', { type: 'number', default: CONTROL_DEFAULTS.pbkdf2Count, describe: 'PBKDF2 iteration count announced in the Server-Greeting (power of 2, >= 1024)' })
      .option('test-ports', { type: 'string', describe: 'LOW-HIGH: test ports to allocate when the requested one is not free or allowed (default: requested port, else ephemeral)' })
      .option('allow', { type: 'string', array: true, default: [] as string[], describe: 'Only accept control clients in this CIDR (repeatable)' })
      .option('servwait', { type: 'number', default: CONTROL_DEFAULTS.servwaitS, describe: 'SERVWAIT: seconds without a control message or test packet before a connection is closed' })
      .option('refwait', { type: 'number', default: CONTROL_DEFAULTS.refwaitS, describe: 'REFWAIT: seconds without test packets before a started session is ended' })
      .option('max-connections', { type: 'number', default: CONTROL_DEFAULTS.maxConnections, describe: 'Control connections at most' })
      .option('max-connections-per-peer', { type: 'number', default: CONTROL_DEFAULTS.maxConnectionsPerPeer, describe: 'Control connections per client address at most' })
      .option('max-sessions', { type: 'number', default: CONTROL_DEFAULTS.maxSessions, describe: 'Test sessions at most (Accept 5 beyond)' })
      .option('max-sessions-per-connection', { type: 'number', default: CONTROL_DEFAULTS.maxSessionsPerConnection, describe: 'Test sessions per control connection at most (Accept 4 beyond)' })
      .option('max-padding', { type: 'number', default: CONTROL_DEFAULTS.maxPadding, describe: 'Largest Padding Length accepted' })
      .option('max-timeout', { type: 'number', default: CONTROL_DEFAULTS.maxTimeoutS, describe: 'Longest Timeout (seconds after Stop-Sessions) honoured' })
      .option('clock-synced', { type: 'boolean', describe: 'Declare the clock synchronised to UTC (S bit of the Error Estimate)' })
      .option('clock-error', { type: 'number', describe: 'Clock error in seconds claimed when synchronised' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only errors' })
      .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'Log every connection and session' }) as unknown as Argv<Args>,
  handler: (args) => runServerCommand(args),
};

const controllerCommand: CommandModule<object, Args> = {
  command: 'controller <target>',
  describe: `Full TWAMP Session-Sender: negotiate with the TWAMP server at TARGET host[:port] (default port ${CONTROL_PORT}) and measure`,
  builder: (y) =>
    clientModeOptions(senderOptions(y))
      .positional('target', { type: 'string', describe: `TWAMP server host[:control port], default port ${CONTROL_PORT}` })
      .option('sessions', { type: 'number', default: 1, describe: 'Test sessions to request on the control connection' })
      .option('test-port', { type: 'number', default: 0, describe: 'Reflector UDP port to ask for (0: the server chooses; the port it returns is always used)' })
      .option('session-timeout', { type: 'number', default: CONTROL_DEFAULTS.sessionTimeoutS, describe: 'Timeout field: seconds the reflector keeps reflecting after Stop-Sessions' }) as unknown as Argv<Args>,
  handler: async (args) => {
    process.exitCode = await runController(args);
  },
};

const controlClientCommand: CommandModule<object, Args> = {
  command: 'controlclient <sender> [server]',
  describe: 'TWAMP-Control only (nokia/twampy style): set up a session for test packets sent by another sender from SENDER addr:port to SERVER addr[:reflector port]',
  builder: (y) =>
    clientModeOptions(y)
      .positional('sender', { type: 'string', describe: 'Address:port the test packets will come from (default port 20000)' })
      .positional('server', { type: 'string', describe: 'TWAMP server address[:requested reflector port] (default: the sender address, server-chosen port)' })
      .option('control-port', { type: 'number', default: CONTROL_PORT, describe: 'TWAMP-Control TCP port of the server' })
      .option('padding', { type: 'number', default: 27, describe: 'Padding Length the external sender will use' })
      .option('dscp', { type: 'string', describe: 'DSCP to request in Type-P (name or 0-63)' })
      .option('tos', { type: 'string', describe: 'TOS byte; its DSCP part is requested' })
      .option('session-timeout', { type: 'number', default: CONTROL_DEFAULTS.sessionTimeoutS, describe: 'Timeout field: seconds the reflector keeps reflecting after Stop-Sessions' })
      .option('duration', { type: 'number', describe: 'Hold the session this many seconds, then Stop-Sessions (default: until SIGINT)' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only errors' })
      .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'More logging' }) as unknown as Argv<Args>,
  handler: async (args) => {
    process.exitCode = await runControlClient(args);
  },
};

/** The full-TWAMP commands, for main.ts to register. */
export const controlCommands: CommandModule<any, any>[] = [serverCommand, controllerCommand, controlClientCommand];
