/**
 * The yargs parser of `twampy`: commands and options. Handlers live in run-*.ts.
 */
import yargs, { type Argv } from 'yargs';
import { DEFAULTS, DEFAULT_TEST_PORT, WELL_KNOWN_PORT } from '../config/defaults.js';
import { runSenderCommand } from './run-sender.js';
import { runResponderCommand } from './run-responder.js';
import { runDemo } from './run-demo.js';
import { dscpTable } from '../protocol/dscp.js';
import { controlCommands } from './control.js';

/** Telemetry options (OTLP also follows the standard OTEL_EXPORTER_OTLP_* environment). */
export function telemetryOptions<T>(y: Argv<T>) {
  return y
    .option('metrics', { type: 'boolean', describe: 'Serve Prometheus /metrics, /healthz and /readyz' })
    .option('metrics-port', { type: 'number', default: 8000, describe: 'Port of the metrics server' })
    .option('metrics-host', { type: 'string', describe: 'Address of the metrics server (default: all interfaces)' })
    .option('metrics-gzip', {
      type: 'boolean',
      default: true,
      describe: 'gzip /metrics when the scraper accepts it; --no-metrics-gzip saves the CPU of compressing for ~14x the bytes',
    })
    .option('otlp', { type: 'string', describe: 'Push OTLP/HTTP metrics; optional URL (default from OTEL_EXPORTER_OTLP_*, else http://localhost:4318)' })
    .option('otlp-protocol', { type: 'string', choices: ['http/protobuf', 'http/json'], describe: 'OTLP encoding (default http/protobuf)' })
    .option('nodegraph', { type: 'boolean', default: false, describe: 'Export twampy_edge for the Grafana node graph' })
    .option('source-name', { type: 'string', describe: 'Value of the source label (default: host name)' })
    .option('buckets', { type: 'string', describe: 'Delay histogram boundaries in seconds, comma-separated' })
    .option('one-way-histograms', { type: 'boolean', default: false, describe: 'Record one-way delay histograms even when clocks are not synchronised' });
}

/** Options shared by every measuring command. */
function commonOptions<T>(y: Argv<T>) {
  return telemetryOptions(y)
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'Print only summaries and errors' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'Also print losses and dropped datagrams' })
    .option('clock-synced', {
      type: 'boolean',
      describe: 'Declare the clock synchronised to UTC (S bit of the Error Estimate). Default: detected from systemd-timesyncd',
    })
    .option('clock-error', { type: 'number', describe: `Clock error in seconds claimed when synchronised (default ${DEFAULTS.syncedClockErrorS})` });
}

/** Sender options (also used by the demo). */
export function senderOptions<T>(y: Argv<T>) {
  return commonOptions(y)
    .option('count', { alias: 'c', type: 'number', default: DEFAULTS.count, describe: 'Packets per target; 0 = continuous' })
    .option('forever', { type: 'boolean', default: false, describe: 'Measure continuously, reporting every --period (same as --count 0)' })
    .option('interval', { alias: 'i', type: 'number', default: DEFAULTS.intervalMs, describe: 'Interval between packets to one target, ms' })
    .option('padding', {
      type: 'string',
      default: String(DEFAULTS.padding),
      describe: 'Padding octets: a number (27 = 41-octet requests, equal sizes both ways), a comma list cycled per packet, or "imix"',
    })
    .option('timeout', { type: 'number', default: DEFAULTS.timeoutMs, describe: 'A reply later than this (ms) is late and its packet lost' })
    .option('period', { type: 'number', default: DEFAULTS.periodS, describe: 'Statistics period in continuous mode, seconds' })
    .option('local', { type: 'string', describe: 'Local address[:port] to send from (default: any address, ephemeral port)' })
    .option('ttl', { type: 'number', default: DEFAULTS.ttl, describe: 'TTL / hop limit of test packets' })
    .option('dscp', { type: 'string', describe: 'DSCP of test packets: name (ef, af41, cs6) or 0-63. Needs the native socket layer' })
    .option('tos', { type: 'string', describe: 'TOS byte of test packets, 0-255 (DSCP << 2 | ECN). Needs the native socket layer' })
    .option('df', { type: 'boolean', default: false, describe: "Set Don't Fragment. Needs the native socket layer" })
    .option('dscp-ecn-monitoring', {
      type: 'boolean',
      default: false,
      describe: 'Read the DSCP and ECN the reflector received from the octet after Sender TTL (RFC 7750): the responder needs the same flag; the controller negotiates mode 256',
    })
    .option('stamp', { type: 'boolean', default: false, describe: 'Send STAMP (RFC 8762) packets instead of TWAMP-Light' })
    .option('ssid', { type: 'number', default: DEFAULTS.ssid, describe: 'STAMP Session-Sender Identifier (0-65535)' })
    .option('json', { type: 'boolean', default: false, describe: 'Print one JSON object per target and report' })
    .option('ipv4', { alias: '4', type: 'boolean', default: false, describe: 'Resolve names to IPv4 only' })
    .option('ipv6', { alias: '6', type: 'boolean', default: false, describe: 'Resolve names to IPv6 only' })
    .option('targets-file', { type: 'string', describe: 'YAML list of targets, re-read on SIGHUP' })
    .option('discover', { type: 'string', array: true, default: [] as string[], describe: 'HOST:PORT whose every address is a target (mesh mode), re-resolved' })
    .option('discover-interval', { type: 'number', default: DEFAULTS.discoverIntervalS, describe: 'Seconds between --discover resolutions' })
    .option('exclude', { type: 'string', array: true, default: [] as string[], describe: 'Address never measured (e.g. our own pod IP)' })
    .option('resolve-interval', { type: 'number', default: DEFAULTS.resolveIntervalS, describe: 'Seconds between re-resolutions of target names in continuous mode' });
}

/** Responder options. */
export function responderOptions<T>(y: Argv<T>) {
  return commonOptions(y)
    .option('stateless', { type: 'boolean', default: false, describe: "Copy the sender's sequence number instead of counting per sender" })
    .option('allow', { type: 'string', array: true, default: [] as string[], describe: 'Only answer sources in this CIDR (repeatable)' })
    .option('rate-limit', { type: 'number', default: DEFAULTS.rateLimitPps, describe: 'Packets per second reflected per source address; 0 = unlimited' })
    .option('max-sessions', { type: 'number', default: DEFAULTS.maxSessions, describe: 'Sender sessions held at most (least recently seen evicted)' })
    .option('refwait', { type: 'number', default: DEFAULTS.refwaitS, describe: 'Seconds without packets after which a sender session is dropped (REFWAIT)' })
    .option('max-size', { type: 'number', default: DEFAULTS.maxRequestBytes, describe: 'Largest request answered, octets' })
    .option('stamp', { type: 'boolean', default: true, describe: 'Answer STAMP-shaped requests in STAMP format (--no-stamp: always TWAMP)' })
    .option('reply-dscp', { type: 'string', describe: 'DSCP of replies: "copy" (the request\'s DSCP and ECN), a name (ef, af41) or 0-63. Needs the native socket layer' })
    .option('dscp-ecn-monitoring', {
      type: 'boolean',
      default: false,
      describe: 'Report the received DSCP and ECN in the octet after Sender TTL of TWAMP replies (RFC 7750; replies become at least 42 octets). Needs the native socket layer',
    });
}

/** Adds every command to a yargs instance. */
export function registerCommands(y: Argv): Argv {
  y
    .command(
      'responder [listen..]',
      `Reflect TWAMP-Light and STAMP test packets (default ${DEFAULTS.listen}; IANA port ${WELL_KNOWN_PORT})`,
      (yy) =>
        responderOptions(yy).positional('listen', {
          type: 'string',
          array: true,
          describe: `Address:port to listen on, repeatable ("[::]:${DEFAULT_TEST_PORT}" is dual-stack; "0.0.0.0:${DEFAULT_TEST_PORT}" IPv4 only)`,
        }),
      (argv) => runResponderCommand(argv),
    )
    .command(
      'sender [targets..]',
      `Measure latency, jitter and loss to TARGET host[:port] (default port ${DEFAULT_TEST_PORT})`,
      (yy) => senderOptions(yy).positional('targets', { type: 'string', array: true, describe: 'host[:port] or [ipv6]:port' }),
      (argv) => runSenderCommand(argv),
    )
    .command(
      'dscptable',
      'Print DSCP names with their DSCP and TOS values',
      (yy) => yy,
      () => {
        process.stdout.write('Name           DSCP  TOS (hex)  TOS (dec)\n');
        for (const r of dscpTable()) {
          process.stdout.write(
            `${r.name.toUpperCase().padEnd(14)} ${String(r.dscp).padStart(4)}  ${('0x' + r.tos.toString(16).toUpperCase().padStart(2, '0')).padStart(9)}  ${String(r.tos).padStart(9)}\n`,
          );
        }
      },
    )
    .command(
      'demo',
      'Responder and continuous sender on loopback with metrics on :8000 (npm start)',
      (yy) => senderOptions(yy).option('period', { type: 'number', default: 5, describe: 'Statistics period, seconds' }),
      (argv) => runDemo(argv),
    );
  for (const c of controlCommands) y.command(c);
  return y;
}

/**
 * `--name=value` arguments of boolean options whose value is neither `true` nor `false`.
 *
 * Why: yargs reads any such value as false, so `--metrics-gzip=yes` or `--nodegraph=TRUE` would
 * silently turn the option off. `booleans` are the option names, `aliases` their other names.
 */
export function badBooleanValues(raw: readonly string[], booleans: readonly string[], aliases: Record<string, readonly string[]>): string[] {
  const names = new Set<string>();
  for (const b of booleans) for (const n of [b, ...(aliases[b] ?? [])]) names.add(n);
  const bad: string[] = [];
  for (const arg of raw) {
    if (arg === '--') break;
    const m = /^--?([^=]+)=(.*)$/s.exec(arg);
    if (m && names.has(m[1]!) && m[2] !== 'true' && m[2] !== 'false') bad.push(arg);
  }
  return bad;
}

/** Builds the yargs parser (exported for tests of --help and option parsing). */
export function buildParser(argv: string[]): Argv {
  const y = yargs(argv)
    .scriptName('twampy')
    .usage('$0 <command> [options]\n\nTWAMP (RFC 5357), TWAMP-Light and STAMP (RFC 8762) sender and responder.')
    .strict()
    .demandCommand(1, 'a command is required: responder, sender, server, controller, controlclient, dscptable or demo')
    .recommendCommands()
    .wrap(Math.min(130, process.stdout.columns || 130))
    .epilog('Exit codes: 0 every target answered, 1 some target lost every packet, 2 usage error, 3 runtime error.')
    .help()
    .alias('h', 'help')
    .version(false)
    .check((_argv, options: { boolean?: string[]; alias?: Record<string, string[]> }) => {
      const bad = badBooleanValues(argv, options.boolean ?? [], options.alias ?? {});
      if (bad.length === 0) return true;
      const flag = bad[0]!.slice(0, bad[0]!.indexOf('='));
      const hint = flag.startsWith('--') ? ` (or ${flag} / --no-${flag.slice(2)} alone)` : '';
      return `${bad[0]}: a boolean option takes true or false${hint}`;
    }, true)
    .fail((msg, err) => {
      // A check that returns its message hands it over as `err` too: that is a usage error.
      if (err instanceof Error) throw err;
      process.stderr.write(`twampy: ${msg}\nRun "twampy --help" or "twampy <command> --help" for usage.\n`);
      process.exit(2);
    });
  registerCommands(y);
  return y;
}
