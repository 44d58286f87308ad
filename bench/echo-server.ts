/**
 * Baseline for the responder benchmark: a plain node:dgram echo that does the least possible work
 * (no parsing, no timestamps), in the same Node. Prints "listening PORT".
 */
import * as dgram from 'node:dgram';

const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
s.on('message', (m, r) => s.send(m, r.port, r.address));
s.bind(0, '127.0.0.1', () => process.stdout.write(`listening ${s.address().port}\n`));
process.on('SIGTERM', () => s.close(() => process.exit(0)));
