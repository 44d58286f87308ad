/**
 * Baseline for the sender cost benchmark: the least a Node program can do to measure N targets:
 * one socket per target, a 41-octet request every interval, replies matched by sequence number.
 * Usage: pinger PORT TARGETS INTERVAL_MS (targets are 127.0.0.1..127.0.0.N).
 */
import * as dgram from 'node:dgram';

const [port, n, interval] = process.argv.slice(2).map(Number) as [number, number, number];
const socks: dgram.Socket[] = [];
for (let i = 0; i < n; i++) {
  const s = dgram.createSocket('udp4');
  const pending = new Map<number, bigint>();
  let seq = 0;
  let sum = 0;
  s.on('message', (m) => {
    const k = m.readUInt32BE(24);
    const t = pending.get(k);
    if (t !== undefined) {
      sum += Number(process.hrtime.bigint() - t);
      pending.delete(k);
    }
  });
  s.bind(0);
  const addr = `127.0.0.${i + 1}`;
  setTimeout(() => setInterval(() => {
    const b = Buffer.alloc(41);
    b.writeUInt32BE(seq, 0);
    pending.set(seq++, process.hrtime.bigint());
    if (pending.size > 1000) pending.clear();
    s.send(b, port, addr);
  }, interval), Math.random() * interval);
  socks.push(s);
  void sum;
}
process.on('SIGTERM', () => process.exit(0));
