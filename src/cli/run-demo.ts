/**
 * `twampy demo` (what `npm start` runs): a responder on an ephemeral loopback port and a
 * continuous sender measuring it, with metrics on http://localhost:8000/metrics when telemetry
 * is available, printing a statistics table every period.
 */
import { systemClock, systemScheduler } from '../session/clock.js';
import { startResponder } from '../app/responder-app.js';
import { chooseTransport } from '../app/transport.js';
import { responderOptionsFromArgs, type Args } from '../config/options.js';
import { runSender } from './run-sender.js';
import { startTelemetryFromArgs } from './telemetry-hook.js';
import { Logger } from '../app/log.js';

/** Runs the loopback demo until interrupted. */
export async function runDemo(args: Args): Promise<void> {
  const log = new Logger(args.quiet ? 0 : 1);
  const { transport } = await chooseTransport();
  const { reflector } = responderOptionsFromArgs({ ...args, stateless: false, stamp: true, 'rate-limit': 0, 'max-sessions': 1000, refwait: 900, 'max-size': 9000, allow: [] });
  // One telemetry instance serves both roles on one /metrics.
  const telemetryArgs = { ...args, metrics: args.metrics ?? true };
  const telemetry = await startTelemetryFromArgs(telemetryArgs, log);
  const responder = await startResponder([{ name: '127.0.0.1:0', host: '127.0.0.1', port: 0 }], reflector, {
    transport,
    clock: systemClock,
    scheduler: systemScheduler,
    observer: telemetry ? telemetry.responder() : {},
  });
  const port = responder.listening[0]!.port;
  process.stdout.write(`twampy demo: responder on 127.0.0.1:${port}, sender measuring it every ${args.interval} ms; Ctrl-C to stop\n`);
  // The server listens on every interface; print the address a browser on this machine can open.
  if (telemetry?.metricsUrl) process.stdout.write(`metrics on ${telemetry.metricsUrl.replace(/\/\/(\[::\]|0\.0\.0\.0)/, '//localhost')}\n`);
  const senderArgs: Args = { ...args, targets: [`127.0.0.1:${port}`], forever: true, metrics: false, otlp: undefined };
  const observers = telemetry ? [telemetry.sender()] : [];
  const stop = async () => {
    await responder.close();
    await telemetry?.shutdown();
  };
  process.once('exit', () => void stop());
  telemetry?.setReady(true);
  process.exitCode = await runSender(senderArgs, observers);
}
