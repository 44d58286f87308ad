/**
 * `twampy sender`: runs the measurement, prints replies and statistics, and exits 0 when every
 * target answered, 1 when some target lost every packet.
 */
import { systemClock, systemScheduler } from '../session/clock.js';
import { SenderApp } from '../app/sender-app.js';
import { chooseTransport } from '../app/transport.js';
import { combineSenderObservers } from '../app/observers.js';
import { Logger } from '../app/log.js';
import { createPrinter } from './printer.js';
import { senderAppOptionsFromArgs, type Args } from '../config/options.js';
import { startTelemetryFromArgs } from './telemetry-hook.js';
import type { SenderObserver } from '../session/events.js';
import { formatHostPort } from '../app/responder-app.js';

/** Runs the sender; resolves with the exit code. */
export async function runSender(args: Args, extraObservers: SenderObserver[] = [], announce?: (line: string) => void): Promise<number> {
  const opts = senderAppOptionsFromArgs(args);
  const verbosity = args.quiet ? 0 : args.verbose ? 2 : 1;
  const log = new Logger(verbosity);
  const { transport, nativeError } = await chooseTransport();
  if (nativeError && (opts.sender.tos !== undefined || opts.sender.dontFragment)) {
    log.debug(`native socket layer unavailable: ${nativeError}`);
  }
  const telemetry = await startTelemetryFromArgs(args, log);
  const printer = createPrinter({
    json: args.json === true,
    verbosity,
    replyLines: opts.sender.count > 0 || verbosity === 2,
    write: (t) => process.stdout.write(t + '\n'),
  });
  const logObserver: SenderObserver = {
    onTargetError: (e) => log.limited(`target:${e.target}:${e.code}`, `${e.target}: ${e.message}`),
    onDrop: (e) => {
      if (verbosity >= 2) log.limited(`drop:${e.reason}`, `ignored reply from ${formatHostPort(e.address, e.port)}: ${e.reason}`);
    },
  };
  const observers = [printer, logObserver, ...extraObservers];
  if (telemetry) observers.push(telemetry.sender());
  const app = new SenderApp(opts, transport, systemClock, systemScheduler, combineSenderObservers(observers));
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    void app.stop(true).then(() => telemetry?.shutdown()).then(() => process.exit(exitCode(app)));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const onHup = () => app.reload().catch((err) => log.error(`reload failed, keeping the current targets: ${(err as Error).message}`));
  process.on('SIGHUP', onHup);
  try {
    await app.start();
  } catch (err) {
    await app.stop(false);
    await telemetry?.shutdown();
    if (nativeError && (err as { code?: string }).code === 'ERR_TWAMPY_UNSUPPORTED') {
      throw new Error(`${(err as Error).message} (native layer: ${nativeError})`);
    }
    throw err;
  }
  telemetry?.setReady(true);
  if (telemetry?.metricsUrl) (announce ?? ((l) => process.stderr.write(l + '\n')))(`metrics on ${telemetry.metricsUrl}`);
  if (app.sender.targets().length === 0 && opts.discover.length === 0 && !opts.targetsFile) {
    await app.stop(false);
    await telemetry?.shutdown();
    return 1;
  }
  if (opts.sender.count === 0) {
    await new Promise<void>(() => {}); // continuous: runs until a signal
  }
  await app.done();
  if (interrupted) return exitCode(app);
  await app.stop(false);
  await telemetry?.shutdown();
  process.off('SIGHUP', onHup);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return exitCode(app);
}

function exitCode(app: SenderApp): number {
  if (app.failed.size > 0) return 1;
  for (const t of app.sender.totals().values()) if (t.sent > 0 && t.received === 0) return 1;
  return 0;
}

/** The yargs handler. */
export async function runSenderCommand(args: Args): Promise<void> {
  const code = await runSender(args);
  process.exitCode = code;
}
