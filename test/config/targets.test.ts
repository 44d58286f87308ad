import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHostPort, resolveHost, UsageError } from '../../src/config/targets.js';
import { parsePadding, tosFromArgs, senderAppOptionsFromArgs } from '../../src/config/options.js';
import { parseTargetsFile } from '../../src/app/sender-app.js';
import { IMIX_PADDING } from '../../src/config/defaults.js';
import { CidrSet } from '../../src/config/cidr.js';
import { Logger } from '../../src/app/log.js';

test('host[:port], [v6]:port and bare IPv6 targets', () => {
  assert.deepEqual(parseHostPort('192.0.2.1', 20001), { name: '192.0.2.1', host: '192.0.2.1', port: 20001 });
  assert.deepEqual(parseHostPort('example.net:862', 20001), { name: 'example.net:862', host: 'example.net', port: 862 });
  assert.deepEqual(parseHostPort('[2001:db8::1]:862', 20001), { name: '[2001:db8::1]:862', host: '2001:db8::1', port: 862 });
  assert.deepEqual(parseHostPort('2001:db8::1', 20001), { name: '2001:db8::1', host: '2001:db8::1', port: 20001 });
  assert.deepEqual(parseHostPort(':20001', 1, 'listen address'), { name: ':20001', host: '::', port: 20001 });
});

test('bad targets are usage errors with the reason', () => {
  assert.throws(() => parseHostPort('h:70000', 1), /port must be 0-65535/);
  assert.throws(() => parseHostPort('h:x', 1), /port must be 0-65535/);
  assert.throws(() => parseHostPort('[foo]:1', 1), /brackets are for IPv6/);
  assert.throws(() => parseHostPort('a b', 1), UsageError);
  assert.throws(() => parseHostPort('h:0', 1), /port 0/);
});

test('IP literals resolve without DNS and respect -4/-6', async () => {
  assert.deepEqual(await resolveHost('::1'), { address: '::1', family: 'IPv6' });
  await assert.rejects(resolveHost('::1', 4), /not an IPv4 address/);
});

test('padding: number, list, imix; invalid values refused', () => {
  assert.deepEqual(parsePadding('27'), [27]);
  assert.deepEqual(parsePadding('0, 27,100'), [0, 27, 100]);
  assert.deepEqual(parsePadding('IMIX'), [...IMIX_PADDING]);
  assert.equal(IMIX_PADDING.length, 12);
  assert.deepEqual([...new Set(IMIX_PADDING.map((p) => p + 14 + 28))], [64, 576, 1500]);
  assert.throws(() => parsePadding('-1'), /integer 0-65000/);
});

test('--dscp and --tos give the TOS byte; both at once is refused', () => {
  assert.equal(tosFromArgs({ dscp: 'ef' }), 0xb8);
  assert.equal(tosFromArgs({ tos: '0x20' }), 0x20);
  assert.equal(tosFromArgs({}), undefined);
  assert.throws(() => tosFromArgs({ dscp: 'ef', tos: '1' }), /exclude each other/);
});

test('sender options: defaults, duplicate targets and fixed local port with several targets', () => {
  const base = { count: 100, interval: 100, timeout: 2000, period: 10, ttl: 255, ssid: 0, padding: '27', 'discover-interval': 30, 'resolve-interval': 60, 'clock-synced': false };
  const o = senderAppOptionsFromArgs({ ...base, targets: ['127.0.0.1'] });
  assert.equal(o.sender.count, 100);
  assert.equal(o.sender.errorEstimate & 0x8000, 0, 'S=0 when not synchronised');
  assert.ok((o.sender.errorEstimate & 0xff) > 0, 'multiplier never 0');
  assert.equal(senderAppOptionsFromArgs({ ...base, targets: ['h'], forever: true }).sender.count, 0);
  assert.throws(() => senderAppOptionsFromArgs({ ...base, targets: ['h', 'h'] }), /given twice/);
  assert.throws(() => senderAppOptionsFromArgs({ ...base, targets: ['a', 'b'], local: '127.0.0.1:5000' }), /--local with a fixed port/);
  const synced = senderAppOptionsFromArgs({ ...base, targets: ['h'], 'clock-synced': true });
  assert.equal(synced.sender.errorEstimate & 0x8000, 0x8000);
});

test('targets file: list, map with targets, objects; exact errors', () => {
  assert.deepEqual(parseTargetsFile('- a:1\n- b\n', 'f').map((t) => [t.host, t.port]), [['a', 1], ['b', 20001]]);
  assert.deepEqual(parseTargetsFile('targets:\n  - target: "[::1]:5"\n', 'f').map((t) => t.host), ['::1']);
  assert.deepEqual(parseTargetsFile('', 'f'), []);
  assert.throws(() => parseTargetsFile('a: 1', 'f'), /expected a list of targets/);
  assert.throws(() => parseTargetsFile('- 5', 'f'), /entry 1 is not/);
  assert.throws(() => parseTargetsFile('- "h:99999"', 'f'), /entry 1: invalid target/);
});

test('CIDR allow-lists for IPv4 and IPv6', () => {
  const c = new CidrSet(['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
  assert.ok(c.has('10.1.2.3'));
  assert.ok(c.has('2001:db8:1::1'));
  assert.ok(c.has('192.0.2.7'));
  assert.ok(!c.has('192.0.2.8'));
  assert.ok(!c.has('11.0.0.1'));
  assert.throws(() => new CidrSet(['nonsense']), /not an IP address/);
});

test('rate-limited log: one line per interval per key, with the suppressed count', () => {
  const lines: string[] = [];
  let now = 0;
  const log = new Logger(1, 10_000, (l) => lines.push(l), () => now);
  for (let i = 0; i < 100; i++) log.limited('k', 'bad datagram');
  now = 10_001;
  log.limited('k', 'bad datagram');
  log.limited('other', 'x');
  assert.deepEqual(lines, ['twampy: warning: bad datagram', 'twampy: warning: bad datagram (99 similar messages suppressed)', 'twampy: warning: x']);
});
