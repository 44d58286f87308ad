/**
 * From parsed command-line arguments to validated application options, with exact messages for
 * every invalid value (UsageError, exit code 2).
 */
import { DEFAULTS, DEFAULT_TEST_PORT, IMIX_PADDING } from './defaults.js';
import { parseHostPort, UsageError, type ParsedTarget } from './targets.js';
import { parseDscp, parseTos, dscpToTos } from '../protocol/dscp.js';
import { CidrSet } from './cidr.js';
import { detectClockSync, ourErrorEstimate, type ClockSyncStatus } from './clock-sync.js';
import type { SenderAppOptions } from '../app/sender-app.js';
import type { ReflectorOptions } from '../session/reflector.js';

/** Arguments as yargs delivers them (kebab-case keys are also camelCased by yargs). */
export type Args = Record<string, unknown>;

function num(args: Args, key: string, min: number, max: number, integer = true): number {
  const v = args[key];
  if (typeof v !== 'number' || Number.isNaN(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new UsageError(`--${key} must be ${integer ? 'an integer' : 'a number'} between ${min} and ${max}, got ${String(v)}`);
  }
  return v;
}

function strings(args: Args, key: string): string[] {
  const v = args[key];
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** Parses `--padding`: a number, a comma list, or "imix". */
export function parsePadding(text: string): number[] {
  const t = text.trim().toLowerCase();
  if (t === 'imix') return [...IMIX_PADDING];
  const parts = t.split(',').map((p) => p.trim());
  const out = parts.map((p) => {
    if (!/^\d+$/.test(p) || Number(p) > 65_000) throw new UsageError(`--padding "${text}": each size must be an integer 0-65000, or use "imix"`);
    return Number(p);
  });
  if (out.length === 0) throw new UsageError('--padding is empty');
  return out;
}

/** The TOS byte requested with --dscp or --tos (they exclude each other), or undefined. */
export function tosFromArgs(args: Args): number | undefined {
  const dscp = args.dscp as string | undefined;
  const tos = args.tos as string | undefined;
  if (dscp !== undefined && tos !== undefined) throw new UsageError('--dscp and --tos exclude each other');
  try {
    if (dscp !== undefined) return dscpToTos(parseDscp(String(dscp)));
    if (tos !== undefined) return parseTos(String(tos));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return undefined;
}

/** Clock status and our error estimate from --clock-synced / --clock-error. */
export function clockFromArgs(args: Args): { status: ClockSyncStatus; errorEstimate: number } {
  const status = detectClockSync(args['clock-synced'] as boolean | undefined);
  const ce = args['clock-error'];
  if (ce !== undefined && (typeof ce !== 'number' || !(ce > 0) || ce > 1000)) {
    throw new UsageError(`--clock-error must be a number of seconds > 0, got ${String(ce)}`);
  }
  return { status, errorEstimate: ourErrorEstimate(status, ce as number | undefined) };
}

/** Sender application options from arguments. */
export function senderAppOptionsFromArgs(args: Args, targetsOverride?: ParsedTarget[]): SenderAppOptions {
  const forever = args.forever === true;
  const count = forever ? 0 : num(args, 'count', 0, 4_294_967_295);
  const intervalMs = num(args, 'interval', 0.01, 3_600_000, false);
  const timeoutMs = num(args, 'timeout', 1, 3_600_000, false);
  const periodS = num(args, 'period', 0.1, 86_400, false);
  const ttl = num(args, 'ttl', 1, 255);
  const ssid = num(args, 'ssid', 0, 65_535);
  if (args.ipv4 && args.ipv6) throw new UsageError('-4 and -6 exclude each other');
  const family = args.ipv4 ? 4 : args.ipv6 ? 6 : undefined;
  const targets = targetsOverride ?? strings(args, 'targets').map((t) => parseHostPort(t, DEFAULT_TEST_PORT));
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.name)) throw new UsageError(`target ${t.name} is given twice`);
    seen.add(t.name);
  }
  const discover = strings(args, 'discover').map((d) => parseHostPort(d, DEFAULT_TEST_PORT, 'discover target'));
  const targetsFile = args['targets-file'] as string | undefined;
  if (targets.length === 0 && discover.length === 0 && !targetsFile) {
    throw new UsageError('no target: give host[:port] arguments, --discover HOST:PORT or --targets-file FILE');
  }
  let localAddress = '';
  let localPort = 0;
  if (args.local !== undefined) {
    const l = parseHostPort(String(args.local), 0, 'listen address');
    localAddress = l.host;
    localPort = l.port;
    if (localPort !== 0 && (targets.length > 1 || discover.length > 0 || targetsFile)) {
      throw new UsageError('--local with a fixed port measures one target; use port 0 (ephemeral) for several');
    }
  }
  const { errorEstimate } = clockFromArgs(args);
  const dscpEcnMonitoring = args['dscp-ecn-monitoring'] === true;
  if (dscpEcnMonitoring && args.stamp === true) {
    throw new UsageError('--dscp-ecn-monitoring is RFC 7750, for TWAMP packets; STAMP reports DSCP and ECN in a TLV (RFC 8972), which twampy does not send');
  }
  return {
    targets,
    discover,
    discoverIntervalMs: num(args, 'discover-interval', 1, 86_400, false) * 1000,
    exclude: strings(args, 'exclude'),
    targetsFile,
    family,
    resolveIntervalMs: num(args, 'resolve-interval', 1, 86_400, false) * 1000,
    sender: {
      count,
      intervalMs,
      padding: parsePadding(String(args.padding ?? DEFAULTS.padding)),
      timeoutMs,
      periodMs: periodS * 1000,
      stamp: args.stamp === true,
      ssid,
      errorEstimate,
      localAddress,
      localPort,
      ttl,
      tos: tosFromArgs(args),
      dontFragment: args.df === true ? true : undefined,
      dscpEcnMonitoring,
      splay: targets.length + discover.length > 1 || !!targetsFile,
    },
  };
}

/** Reflector options and listen addresses from arguments. */
export function responderOptionsFromArgs(args: Args): { listen: ParsedTarget[]; reflector: ReflectorOptions } {
  const listenArgs = strings(args, 'listen');
  const listen = (listenArgs.length ? listenArgs : [DEFAULTS.listen]).map((l) => parseHostPort(l, DEFAULT_TEST_PORT, 'listen address'));
  let allow: CidrSet | null = null;
  const allowArgs = strings(args, 'allow');
  if (allowArgs.length) {
    try {
      allow = new CidrSet(allowArgs);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
  const { errorEstimate } = clockFromArgs(args);
  return {
    listen,
    reflector: {
      stateless: args.stateless === true,
      refwaitMs: num(args, 'refwait', 1, 86_400 * 7, false) * 1000,
      maxSessions: num(args, 'max-sessions', 1, 10_000_000),
      allow,
      rateLimitPps: num(args, 'rate-limit', 0, 100_000_000, false),
      maxRequestBytes: num(args, 'max-size', 44, 65_507),
      errorEstimate,
      stamp: args.stamp !== false,
      replyTos: replyTosFromArgs(args),
      dscpEcnMonitoring: args['dscp-ecn-monitoring'] === true,
    },
  };
}

/** The TOS of replies from --reply-dscp: 'copy', DSCP << 2, or null when not given. */
export function replyTosFromArgs(args: Args): 'copy' | number | null {
  const v = args['reply-dscp'];
  if (v === undefined || v === null) return null;
  if (String(v).trim().toLowerCase() === 'copy') return 'copy';
  try {
    return dscpToTos(parseDscp(String(v)));
  } catch (err) {
    throw new UsageError(`--reply-dscp: ${(err as Error).message}`);
  }
}
