/**
 * `twampy responder`: binds, reflects, logs drops at a bounded rate, and on SIGINT/SIGTERM stops
 * cleanly with a summary.
 */
import { systemClock, systemScheduler } from '../session/clock.js';
import { startResponder, formatHostPort } from '../app/responder-app.js';
import { chooseTransport } from '../app/transport.js';
import { combineResponderObservers } from '../app/observers.js';
import { Logger } from '../app/log.js';
import { responderOptionsFromArgs, type Args } from '../config/options.js';
import { startTelemetryFromArgs } from './telemetry-hook.js';
import type { ResponderObserver } from '../session/events.js';
import { DEFAULTS } from '../config/defaults.js';
import { UnsupportedFeatureError } from '../transport/types.js';

/** Runs the responder until a signal stops it. */
export async function runResponderCommand(args: Args): Promise<void> {
  const log = new Logger(args.quiet ? 0 : args.verbose ? 2 : 1);
  const { listen, reflector } = responderOptionsFromArgs(args);
  const { transport, nativeError } = await chooseTransport();
  if (nativeError) log.debug(`socket layer: dgram (${nativeError})`);
  const caps = transport.capabilities;
  if (reflector.replyTos !== null && reflector.replyTos !== undefined && (!caps.setTos || (reflector.replyTos === 'copy' && !caps.receiveTos))) {
    // Refused up front: replies silently sent with the wrong DSCP would be worse than none.
    throw new UnsupportedFeatureError('tos', `--reply-dscp needs a socket layer that can ${reflector.replyTos === 'copy' ? 'read and ' : ''}set TOS; ${caps.name} cannot (${nativeError ?? 'native layer not in use'})`);
  }
  if (reflector.dscpEcnMonitoring && !caps.receiveTos) {
    // Refused up front: a DSCP/ECN octet of 0 would claim every request arrived unmarked.
    throw new UnsupportedFeatureError('tos', `--dscp-ecn-monitoring needs a socket layer that can read the received TOS; ${caps.name} cannot (${nativeError ?? 'native layer not in use'})`);
  }
  const telemetry = await startTelemetryFromArgs(args, log);
  const logObserver: ResponderObserver = {
    onDropped(e) {
      log.limited(`drop:${e.reason}`, `dropped datagram from ${formatHostPort(e.address, e.port)} (${e.reason}): ${e.detail}`);
    },
  };
  const observers = [logObserver];
  if (telemetry) observers.push(telemetry.responder());
  const deps = {
    transport,
    clock: systemClock,
    scheduler: systemScheduler,
    observer: combineResponderObservers(observers),
    onSocketError: (e: Error) => log.limited('socket', `socket error: ${e.message}`),
  };
  let handle;
  try {
    try {
      handle = await startResponder(listen, reflector, deps);
    } catch (err) {
      // The default is dual-stack [::]; hosts and pods with IPv6 disabled cannot bind it.
      const code = (err as NodeJS.ErrnoException).code;
      const isDefault = listen.length === 1 && listen[0]!.name === DEFAULTS.listen;
      if (!isDefault || !['EAFNOSUPPORT', 'EADDRNOTAVAIL', 'EINVAL', 'EPROTONOSUPPORT'].includes(code ?? '')) throw err;
      log.warn(`cannot bind ${DEFAULTS.listen} (${code}: IPv6 unavailable?), listening on IPv4 only`);
      handle = await startResponder([{ name: `0.0.0.0:${listen[0]!.port}`, host: '0.0.0.0', port: listen[0]!.port }], reflector, deps);
    }
  } catch (err) {
    await telemetry?.shutdown();
    const e = err as NodeJS.ErrnoException;
    throw new Error(`cannot listen on ${listen.map((l) => l.name).join(', ')}: ${e.code ?? ''} ${e.message}`.replace(/\s+/g, ' '));
  }
  if (telemetry && handle.kernelDrops() !== null) telemetry.responder().countKernelDrops(() => handle.kernelDrops() ?? 0);
  telemetry?.setReady(true);
  for (const l of handle.listening) {
    process.stdout.write(`twampy responder listening on ${formatHostPort(l.address, l.port)} (${transport.capabilities.name} sockets${reflector.stateless ? ', stateless' : ''})\n`);
  }
  if (telemetry?.metricsUrl) process.stdout.write(`metrics on ${telemetry.metricsUrl}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  const c = handle.reflector.counters;
  const d = c.dropped;
  process.stdout.write(
    `twampy responder stopped: received ${c.received}, reflected ${c.reflected}, dropped ${c.received - c.reflected} ` +
      `(malformed ${d.malformed}, not allowed ${d.not_allowed}, rate limited ${d.rate_limited})` +
      (handle.kernelDrops() === null ? '' : `, dropped by the kernel ${handle.kernelDrops()}`) + '\n',
  );
  // Bounded: a socket or exporter that does not close must not keep a stopping process alive.
  const closing = Promise.all([handle.close(), telemetry?.shutdown()]);
  await Promise.race([closing, new Promise((r) => setTimeout(r, 5000).unref())]);
}
