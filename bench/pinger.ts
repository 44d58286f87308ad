/**
 * Baseline for the sender cost benchmark: the least a Node program can do to measure N targets:
 * one socket per target, a 41-octet request every interval, replies matched by sequence number.
 * Usage: pinger INTERVAL_MS HOST:PORT... ; prints "replies N" on SIGTERM.
 */
import * as dgram from 'node:dgram';

const [intervalText, ...targets] = process.argv.slice(2);
const interval = Number(intervalText);
let replies = 0;
for (const t of targets) {
  const i = t.lastIndexOf(':');
  const addr = t.slice(0, i);
  const port = Number(t.slice(i + 1));
  const s = dgram.createSocket('udp4');
  const pending = new Map<number, bigint>();
  let seq = 0;
  s.on('message', (m, rinfo) => {
    if (rinfo.address !== addr || rinfo.port !== port || m.length < 28) return;
    if (pending.delete(m.readUInt32BE(24))) replies++;
  });
  s.bind(0);
  setTimeout(() => setInterval(() => {
    const b = Buffer.alloc(41);
    b.writeUInt32BE(seq, 0);
    pending.set(seq++, process.hrtime.bigint());
    if (pending.size > 1000) pending.clear();
    s.send(b, port, addr);
  }, interval), Math.random() * interval);
}
process.on('SIGTERM', () => {
  process.stdout.write(`replies ${replies}\n`, () => process.exit(0));
});
