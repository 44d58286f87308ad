/**
 * A UDP impairment relay for tests: sits between one sender and one reflector on loopback and
 * drops, delays, duplicates or reorders packets per direction. The kernel here has no netem, so
 * this is how tests get exact, repeatable impairments.
 */
import * as dgram from 'node:dgram';

/** What to do to packets in one direction; `n` is the 1-based count of packets seen in that direction. */
export interface Impairment {
  drop?: (n: number, data: Buffer) => boolean;
  delayMs?: number | ((n: number) => number);
  duplicate?: (n: number) => boolean;
  /** Hold packet n back and send it after packet n+1. */
  swapWithNext?: (n: number) => boolean;
}

/** A running relay. */
export interface Relay {
  /** Where the sender should send. */
  port: number;
  address: string;
  /** Packets seen per direction. */
  counts: { outbound: number; inbound: number; dropped: { outbound: number; inbound: number } };
  close(): Promise<void>;
}

/** Starts a relay that forwards to `upstream` with the given impairments. */
export async function startRelay(
  upstream: { address: string; port: number },
  impair: { outbound?: Impairment; inbound?: Impairment } = {},
  family: 'udp4' | 'udp6' = upstream.address.includes(':') ? 'udp6' : 'udp4',
): Promise<Relay> {
  const front = dgram.createSocket(family);
  const back = dgram.createSocket(family);
  const local = family === 'udp6' ? '::1' : '127.0.0.1';
  await new Promise<void>((r) => front.bind(0, local, r));
  await new Promise<void>((r) => back.bind(0, local, r));
  let client: { address: string; port: number } | null = null;
  const counts = { outbound: 0, inbound: 0, dropped: { outbound: 0, inbound: 0 } };
  const timers = new Set<NodeJS.Timeout>();
  const held: { outbound: Buffer | null; inbound: Buffer | null } = { outbound: null, inbound: null };
  let closed = false;

  const forward = (dir: 'outbound' | 'inbound', data: Buffer, send: (b: Buffer) => void) => {
    const n = ++counts[dir];
    const imp = impair[dir] ?? {};
    if (imp.drop?.(n, data)) {
      counts.dropped[dir]++;
      return;
    }
    const emit = (b: Buffer) => {
      const d = typeof imp.delayMs === 'function' ? imp.delayMs(n) : (imp.delayMs ?? 0);
      if (d > 0) {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!closed) send(b);
        }, d);
        timers.add(t);
      } else send(b);
    };
    if (imp.swapWithNext?.(n)) {
      held[dir] = data;
      return;
    }
    emit(data);
    if (imp.duplicate?.(n)) emit(Buffer.from(data));
    const h = held[dir];
    if (h) {
      held[dir] = null;
      emit(h);
    }
  };

  front.on('message', (data, rinfo) => {
    client = { address: rinfo.address, port: rinfo.port };
    forward('outbound', data, (b) => back.send(b, upstream.port, upstream.address));
  });
  back.on('message', (data) => {
    const c = client;
    if (c) forward('inbound', data, (b) => front.send(b, c.port, c.address));
  });
  return {
    port: front.address().port,
    address: local,
    counts,
    async close() {
      closed = true;
      for (const t of timers) clearTimeout(t);
      await Promise.all([new Promise<void>((r) => front.close(() => r())), new Promise<void>((r) => back.close(() => r()))]);
    },
  };
}
