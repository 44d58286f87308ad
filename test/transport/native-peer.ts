/**
 * A native-transport endpoint driven over stdin/stdout JSON lines, so that the network-namespace
 * tests can run one inside each namespace (`ip netns exec NS node native-peer.js`). Not a test.
 *
 * Commands: {"op":"open", address, port, ttl?, tos?, dontFragment?}, {"op":"reflect"} (answer
 * with the real Reflector), {"op":"send", to, port, size, tos?, twampSeq?}. Events: {"ev":"open",
 * port}, {"ev":"rx", ...what the socket layer reported}, {"ev":"error", code, message}.
 */
import { createInterface } from 'node:readline';
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import { Reflector } from '../../src/session/reflector.js';
import { loadNativeTransport, type NativeSocket } from '../../src/transport/native.js';
import { encodeSenderPacket, SENDER_TTL_OFFSET, REFLECTOR_HEADER_LENGTH } from '../../src/protocol/test-packet.js';

const out = (o: object): void => {
  process.stdout.write(`${JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
};

const loaded = loadNativeTransport();
if ('error' in loaded) {
  out({ ev: 'fatal', message: loaded.error });
  process.exit(1);
}
let sock: NativeSocket | undefined;
let reflector: Reflector | undefined;

interface Command {
  op: string;
  address?: string;
  port?: number;
  ttl?: number;
  tos?: number;
  dontFragment?: boolean;
  to?: string;
  size?: number;
  twampSeq?: number;
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as Command;
  void (async () => {
    if (c.op === 'open') {
      sock = (await loaded.transport.open({
        address: c.address ?? '0.0.0.0',
        port: c.port ?? 0,
        ttl: c.ttl,
        tos: c.tos,
        dontFragment: c.dontFragment,
      })) as NativeSocket;
      sock.onError((e) => out({ ev: 'error', code: (e as NodeJS.ErrnoException).code, message: e.message }));
      sock.onMessage((d) => {
        const senderTtl = d.data.length >= REFLECTOR_HEADER_LENGTH ? d.data[SENDER_TTL_OFFSET] : undefined;
        out({ ev: 'rx', len: d.data.length, address: d.address, port: d.port, family: d.family, ttl: d.ttl, tos: d.tos, source: d.rxTimeSource, senderTtl });
        if (reflector && sock) reflector.handle(d, sock);
      });
      out({ ev: 'open', port: sock.localAddress().port });
    } else if (c.op === 'reflect') {
      reflector = new Reflector(
        { stateless: false, refwaitMs: 60_000, maxSessions: 100, allow: null, rateLimitPps: 0, maxRequestBytes: 9000, errorEstimate: 1, stamp: false },
        systemClock,
        systemScheduler,
      );
      out({ ev: 'reflecting' });
    } else if (c.op === 'send' && sock) {
      const data =
        c.twampSeq !== undefined
          ? encodeSenderPacket({ seq: c.twampSeq, timestampNs: systemClock.nowNs(), errorEstimate: 1, paddingLength: Math.max(0, (c.size ?? 41) - 14) })
          : Buffer.alloc(c.size ?? 100, 0x5a);
      sock.send(data, c.port ?? 0, c.to ?? '', c.tos);
      out({ ev: 'sent' });
    }
  })().catch((e: unknown) => out({ ev: 'error', code: (e as NodeJS.ErrnoException).code, message: (e as Error).message }));
}).on('close', () => {
  reflector?.close();
  void (sock?.close() ?? Promise.resolve()).then(() => process.exit(0));
});
out({ ev: 'ready' });
