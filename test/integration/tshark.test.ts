import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loopbackResponder, measure } from '../helpers/loopback.js';
import type { SentEvent } from '../../src/session/events.js';
import { Sender } from '../../src/session/sender.js';
import { SENDER_DEFAULTS } from '../helpers/loopback.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import { systemClock, systemScheduler } from '../../src/session/clock.js';

const haveTshark = spawnSync('tshark', ['--version']).status === 0;

test('Wireshark dissects our TWAMP-Test exchange without malformed packets, fields match', { skip: !haveTshark && process.env.CI !== 'true' ? 'tshark not installed' : false, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twampy-tshark-'));
  const pcap = join(dir, 'cap.pcap');
  const r = await loopbackResponder('127.0.0.1');
  const count = 6;
  let cap: ReturnType<typeof spawn> | null = null;
  try {
    cap = spawn('tshark', ['-i', 'lo', '-f', `udp port ${r.port}`, '-c', String(2 * count), '-a', 'duration:20', '-w', pcap, '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`tshark did not start: ${err}`)), 15_000);
      cap!.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        // "Capturing on" comes before the capture is live; wait for the file to be open, then a little more.
        if (/Capture started|File: /.test(err)) {
          clearTimeout(timer);
          setTimeout(resolve, 500);
        }
      });
      cap!.on('exit', (code) => reject(new Error(`tshark exited ${code}: ${err}`)));
    });
    const sent: SentEvent[] = [];
    const sender = new Sender({ ...SENDER_DEFAULTS, count, ttl: 255, padding: [27, 100] }, new DgramTransport(), systemClock, systemScheduler, { onSent: (e) => sent.push(e) });
    await sender.addTarget({ name: 't', address: '127.0.0.1', port: r.port, family: 'IPv4' });
    await sender.done();
    await sender.stop(false);
    await new Promise<void>((resolve) => {
      if (cap!.exitCode !== null) return resolve();
      cap!.once('exit', () => resolve());
    });
    assert.ok(existsSync(pcap));
    const dec = spawnSync('tshark', [
      '-r', pcap, '-d', `udp.port==${r.port},twamp.test`, '-T', 'fields', '-E', 'separator=|',
      '-e', 'udp.srcport', '-e', 'udp.length', '-e', 'twamp.test.seq_number', '-e', 'twamp.test.sender_seq_number',
      '-e', 'twamp.test.sender_ttl', '-e', 'twamp.test.padding', '-e', '_ws.malformed', '-e', '_ws.expert.severity',
    ], { encoding: 'utf8' });
    assert.equal(dec.status, 0, dec.stderr);
    const rows = dec.stdout.trim().split('\n').map((l) => l.split('|'));
    assert.equal(rows.length, 2 * count);
    for (const row of rows) {
      assert.equal(row[6], '', `malformed flag on ${row.join('|')}`);
      assert.equal(row[7], '', `expert info on ${row.join('|')}`);
    }
    const requests = rows.filter((x) => x[0] !== String(r.port));
    const replies = rows.filter((x) => x[0] === String(r.port));
    assert.equal(requests.length, count);
    assert.deepEqual(requests.map((x) => Number(x[2])), sent.map((e) => e.seq));
    // Payload = UDP length - 8; requests alternate 41 and 114 octets, replies the same sizes (RFC 6038).
    assert.deepEqual(requests.map((x) => Number(x[1]) - 8), sent.map((e) => e.bytes));
    assert.deepEqual(replies.map((x) => Number(x[1]) - 8), sent.map((e) => e.bytes));
    assert.deepEqual(replies.map((x) => Number(x[3])), sent.map((e) => e.seq), 'sender sequence echoed');
    assert.deepEqual(replies.map((x) => Number(x[2])), sent.map((_, i) => i), 'reflector counter');
    for (const x of replies) assert.match(x[4]!, /^(0|255)$/, 'Sender TTL is 255 where read, 0 where unknown');
    // Timestamps: Wireshark's reading of T1 equals what we stamped, to the nanosecond.
    const ts = spawnSync('tshark', ['-r', pcap, '-d', `udp.port==${r.port},twamp.test`, '-Y', `udp.dstport==${r.port}`, '-T', 'fields', '-e', 'twamp.test.timestamp', '-t', 'ud'], { encoding: 'utf8' });
    const stamps = ts.stdout.trim().split('\n');
    assert.equal(stamps.length, count);
    stamps.forEach((s, i) => {
      const m = /(\d{2}:\d{2}:\d{2})\.(\d{9})/.exec(s);
      assert.ok(m, `timestamp text ${s}`);
      const t1 = sent[i]!.t1Ns;
      const iso = new Date(Number(t1 / 1_000_000n)).toISOString().slice(11, 19);
      assert.equal(m[1], iso);
      assert.ok(Math.abs(Number(m[2]) - Number(t1 % 1_000_000_000n)) <= 1, `fraction ${m[2]} vs ${t1 % 1_000_000_000n}`);
    });
  } finally {
    cap?.kill();
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

void measure;
