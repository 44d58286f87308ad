/**
 * The native socket layer across a real router: three network namespaces the test creates,
 * A -- R -- B, with R forwarding (ip_forward) and the R-B link at MTU 1280. A native endpoint runs
 * in A and in B (test/transport/native-peer.ts). Checked: TTL / hop limit decremented by the hop
 * and written by the Reflector as Sender TTL, DSCP set by the sender seen by the receiving socket
 * and by tshark on B's interface, and Don't Fragment turning an oversized datagram into EMSGSIZE
 * once R has reported the path MTU (while the same datagram without DF is fragmented and arrives).
 * The twampy CLI across R: hop counts of 1 each way, and DSCP re-marking reported each way, from
 * an nftables rule in R when `nft` is installed (else from the responder's --reply-dscp).
 * Needs root, iproute2 and tshark: in CI a missing one fails the test; elsewhere it skips with the reason.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { IN_CI, nativeOrReason } from './native-util.js';
import { CLI } from '../helpers/cli.js';

const peerScript = fileURLToPath(new URL('./native-peer.js', import.meta.url));

function missing(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root for ip netns';
  if (spawnSync('ip', ['-V']).error) return 'iproute2 (ip) not installed';
  if (spawnSync('tshark', ['-v']).error) return 'tshark not installed';
  const n = nativeOrReason();
  if ('reason' in n) return n.reason;
  return null;
}
const why = missing();
const skip = why !== null && !IN_CI ? `prerequisite missing: ${why}` : false;

const id = `${process.pid % 100000}${Math.floor(Math.random() * 100)}`.slice(-6);
const NS = { a: `twA${id}`, r: `twR${id}`, b: `twB${id}` };
const IF = { a: `twa${id}`, r1: `twr${id}`, r2: `tws${id}`, b: `twb${id}` };

function sh(args: string[], ns?: string): void {
  const argv = ns ? ['netns', 'exec', ns, ...args] : args;
  const cmd = ns ? 'ip' : args[0]!;
  const r = spawnSync(cmd, ns ? argv : argv.slice(1), { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`${ns ? `[${ns}] ` : ''}${args.join(' ')} failed: ${r.stderr || r.error?.message}`);
}

function setup(): void {
  for (const ns of Object.values(NS)) sh(['ip', 'netns', 'add', ns]);
  sh(['ip', 'link', 'add', IF.a, 'netns', NS.a, 'type', 'veth', 'peer', 'name', IF.r1, 'netns', NS.r]);
  sh(['ip', 'link', 'add', IF.b, 'netns', NS.b, 'type', 'veth', 'peer', 'name', IF.r2, 'netns', NS.r]);
  const conf: [string, string, string[], string[], string[]][] = [
    [NS.a, IF.a, ['10.201.1.2/24'], ['fd01:1::2/64'], ['10.201.1.1', 'fd01:1::1']],
    [NS.b, IF.b, ['10.201.2.2/24'], ['fd01:2::2/64'], ['10.201.2.1', 'fd01:2::1']],
  ];
  for (const [ns, dev, v4, v6, gw] of conf) {
    sh(['ip', 'link', 'set', 'lo', 'up'], ns);
    sh(['ip', 'addr', 'add', v4[0]!, 'dev', dev], ns);
    sh(['ip', '-6', 'addr', 'add', v6[0]!, 'dev', dev, 'nodad'], ns);
    sh(['ip', 'link', 'set', dev, 'up'], ns);
    sh(['ip', 'route', 'add', 'default', 'via', gw[0]!], ns);
    sh(['ip', '-6', 'route', 'add', 'default', 'via', gw[1]!], ns);
  }
  sh(['ip', 'link', 'set', 'lo', 'up'], NS.r);
  sh(['ip', 'addr', 'add', '10.201.1.1/24', 'dev', IF.r1], NS.r);
  sh(['ip', 'addr', 'add', '10.201.2.1/24', 'dev', IF.r2], NS.r);
  sh(['ip', '-6', 'addr', 'add', 'fd01:1::1/64', 'dev', IF.r1, 'nodad'], NS.r);
  sh(['ip', '-6', 'addr', 'add', 'fd01:2::1/64', 'dev', IF.r2, 'nodad'], NS.r);
  sh(['ip', 'link', 'set', IF.r1, 'up'], NS.r);
  sh(['ip', 'link', 'set', IF.r2, 'up', 'mtu', '1280'], NS.r);
  sh(['ip', 'link', 'set', IF.b, 'mtu', '1280'], NS.b);
  // Written through /proc (per namespace) rather than sysctl(8), which bare images may lack.
  sh(['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward && echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'], NS.r);
}

type Event = Record<string, unknown> & { ev: string };

/** A native-peer process in a namespace. */
class Peer {
  readonly events: Event[] = [];
  private readonly proc: ChildProcessWithoutNullStreams;
  constructor(ns: string) {
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, peerScript]);
    createInterface({ input: this.proc.stdout }).on('line', (l) => this.events.push(JSON.parse(l) as Event));
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  }
  cmd(c: object): void {
    this.proc.stdin.write(`${JSON.stringify(c)}\n`);
  }
  /** Waits for the n-th (1-based) event of a kind, bounded. */
  async wait(ev: string, n = 1, ms = 5000): Promise<Event> {
    const end = Date.now() + ms;
    for (;;) {
      const hits = this.events.filter((e) => e.ev === ev);
      if (hits.length >= n) return hits[n - 1]!;
      const fatal = this.events.find((e) => e.ev === 'fatal');
      if (fatal) throw new Error(`peer failed: ${String(fatal.message)}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${n} x ${ev}; got ${JSON.stringify(this.events)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  count(ev: string): number {
    return this.events.filter((e) => e.ev === ev).length;
  }
  async open(o: object): Promise<number> {
    await this.wait('ready');
    const before = this.count('open');
    this.cmd({ op: 'open', ...o });
    return (await this.wait('open', before + 1)).port as number;
  }
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const done = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.stdin.end();
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await done;
    clearTimeout(t);
  }
}

/** Runs the twampy CLI in a namespace to completion. */
function cliIn(ns: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, ...args]);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `twampy responder` in a namespace; resolves with its port and a stop function. */
async function responderIn(ns: string, args: string[]): Promise<{ port: number; stop: () => Promise<void> }> {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, CLI, 'responder', ...args]);
  let out = '';
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`responder not listening: ${out}`)), 10_000);
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on \S+:(\d+) \(native/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    p.once('exit', () => reject(new Error(`responder exited: ${out}`)));
  });
  return {
    port,
    stop: async () => {
      if (p.exitCode !== null) return;
      const done = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGTERM');
      await done;
    },
  };
}

interface JsonPath {
  hopsOutbound: { last: number; min: number; max: number } | null;
  hopsInbound: { last: number; min: number; max: number } | null;
  sentDscp: number;
  reflectorRxDscp: number | null;
  replyDscp: number | null;
  remarkedOutbound: number | null;
  remarkedInbound: number | null;
}

/** Measures B from A with the CLI (5 EF packets, RFC 7750 on) and returns the final report's path. */
async function pathFromA(target: string): Promise<{ received: number; path: JsonPath }> {
  const r = await cliIn(NS.a, ['sender', target, '-c', '5', '-i', '20', '--dscp', 'ef', '--dscp-ecn-monitoring', '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { received: number; path: JsonPath };
  return o;
}

describe('native transport across a router in network namespaces', { skip, timeout: 60_000 }, () => {
  const peers: Peer[] = [];
  const peer = (ns: string): Peer => {
    const p = new Peer(ns);
    peers.push(p);
    return p;
  };

  before(() => {
    if (why !== null) throw new Error(`prerequisite missing (required in CI): ${why}`);
    setup();
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.stop()));
    for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns]);
  });

  it('IPv4: TTL drops by one across R; the Reflector in B writes it as Sender TTL', async () => {
    const a = peer(NS.a);
    const b = peer(NS.b);
    const bPort = await b.open({ address: '0.0.0.0', port: 0 });
    b.cmd({ op: 'reflect' });
    await b.wait('reflecting');
    await a.open({ address: '0.0.0.0', port: 0, ttl: 255 });
    a.cmd({ op: 'send', to: '10.201.2.2', port: bPort, size: 41, twampSeq: 0 });
    const atB = await b.wait('rx');
    const atA = await a.wait('rx');
    assert.equal(atB.address, '10.201.1.2');
    assert.equal(atB.ttl, 254, 'sent with 255, one router');
    assert.equal(atB.source, 'kernel');
    assert.equal(atA.senderTtl, 254, 'Sender TTL in the reply');
    assert.equal(atA.ttl, 63, 'reply sent with the default 64, one router');
  });

  it('IPv6: hop limit drops by one across R', async () => {
    const a = peer(NS.a);
    const b = peer(NS.b);
    const bPort = await b.open({ address: '::', port: 0 });
    b.cmd({ op: 'reflect' });
    await b.wait('reflecting');
    await a.open({ address: '::', port: 0, ttl: 200 });
    a.cmd({ op: 'send', to: 'fd01:2::2', port: bPort, size: 41, twampSeq: 7 });
    const atB = await b.wait('rx');
    const atA = await a.wait('rx');
    assert.deepEqual([atB.address, atB.family, atB.ttl], ['fd01:1::2', 'IPv6', 199]);
    assert.equal(atA.senderTtl, 199);
    assert.equal(atA.ttl, 63);
  });

  it('DSCP set by the sender is seen by the receiving socket and by tshark on the wire', async () => {
    const a = peer(NS.a);
    const b = peer(NS.b);
    const bPort = await b.open({ address: '::', port: 0 });
    await a.open({ address: '::', port: 0, tos: 0xb8 }); // EF
    // tshark in B, bounded by duration; stopped once it has printed what we need.
    const tshark = spawn('ip', [
      'netns', 'exec', NS.b, 'tshark', '-l', '-n', '-i', IF.b, '-a', 'duration:40',
      '-f', `udp dst port ${bPort}`, '-T', 'fields', '-e', 'udp.length', '-e', 'ip.dsfield.dscp', '-e', 'ipv6.tclass',
    ]);
    let tsOut = '';
    let tsErr = '';
    tshark.stdout.on('data', (d: Buffer) => (tsOut += d.toString()));
    tshark.stderr.on('data', (d: Buffer) => (tsErr += d.toString()));
    const tsDone = new Promise<void>((r) => tshark.once('exit', () => r()));
    // UDP length 8 + payload: markers are 10-octet payloads, test packets 60.
    const seen = (udpLen: number): string[][] =>
      tsOut.trim().split('\n').map((l) => l.split('\t')).filter((l) => Number(l[0]) === udpLen);
    try {
      // Send small markers until tshark shows one: then its capture is certainly live.
      const end = Date.now() + 25_000;
      while (seen(18).length === 0) {
        if (Date.now() > end || tshark.exitCode !== null) throw new Error(`tshark never saw a marker: ${tsErr}`);
        a.cmd({ op: 'send', to: '10.201.2.2', port: bPort, size: 10 });
        await new Promise((r) => setTimeout(r, 200));
      }
      a.cmd({ op: 'send', to: '10.201.2.2', port: bPort, size: 60 }); // socket TOS, IPv4-mapped path
      a.cmd({ op: 'send', to: '10.201.2.2', port: bPort, size: 60, tos: 0x28 }); // AF11 per packet
      a.cmd({ op: 'send', to: 'fd01:2::2', port: bPort, size: 60 });
      a.cmd({ op: 'send', to: 'fd01:2::2', port: bPort, size: 60, tos: 0x68 }); // AF31 per packet
      const until = Date.now() + 10_000;
      while (seen(68).length < 4 && Date.now() < until && tshark.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    } finally {
      if (tshark.exitCode === null) tshark.kill('SIGTERM');
      await tsDone;
    }
    const atB = (): Event[] => b.events.filter((e) => e.ev === 'rx' && e.len === 60);
    for (const end = Date.now() + 5000; atB().length < 4 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
    const rx = atB().map((e) => [e.family, e.tos, e.ttl]);
    assert.deepEqual(rx, [
      ['IPv4', 0xb8, 63],
      ['IPv4', 0x28, 63],
      ['IPv6', 0xb8, 63],
      ['IPv6', 0x68, 63],
    ]);
    // tshark prints ip.dsfield.dscp for IPv4 and ipv6.tclass (hex) for IPv6.
    const lines = seen(68);
    assert.equal(lines.length, 4, `tshark saw: ${tsOut} ${tsErr}`);
    assert.deepEqual(lines.map((l) => (l[1] ? Number(l[1]) : Number(l[2]) >> 2)), [46, 10, 46, 26]);
  });

  it('Don\'t Fragment: an oversized datagram is dropped at R and later sends fail with EMSGSIZE; without DF it arrives', async () => {
    const a = peer(NS.a);
    const b = peer(NS.b);
    const bPort = await b.open({ address: '0.0.0.0', port: 0 });
    await a.open({ address: '0.0.0.0', port: 0, dontFragment: true });
    a.cmd({ op: 'send', to: '10.201.2.2', port: bPort, size: 1400 }); // leaves A (MTU 1500), too big for R-B (1280)
    // R answers with ICMP "fragmentation needed"; A's kernel lowers the path MTU, and the next send is refused.
    const end = Date.now() + 5000;
    while (a.count('error') === 0 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 100));
      a.cmd({ op: 'send', to: '10.201.2.2', port: bPort, size: 1400 });
    }
    const err = await a.wait('error');
    assert.equal(err.code, 'EMSGSIZE');
    a.cmd({ op: 'send', to: '10.201.2.2', port: bPort, size: 1200 }); // fits: arrives
    const small = await b.wait('rx');
    assert.equal(small.len, 1200);
    assert.equal(b.count('rx'), 1, 'no oversized DF datagram got through');

    const c = peer(NS.a);
    await c.open({ address: '0.0.0.0', port: 0, dontFragment: false });
    c.cmd({ op: 'send', to: '10.201.2.2', port: bPort, size: 1400 });
    const big = await b.wait('rx', 2);
    assert.equal(big.len, 1400, 'fragmented on the way and reassembled by B');
  });

  it('IPv6 Don\'t Fragment: EMSGSIZE once R reports Packet Too Big; without it the sender fragments and the datagram arrives', async () => {
    const a = peer(NS.a);
    const b = peer(NS.b);
    const bPort = await b.open({ address: '::', port: 0 });
    await a.open({ address: '::', port: 0, dontFragment: true });
    const end = Date.now() + 5000;
    while (a.count('error') === 0 && Date.now() < end) {
      a.cmd({ op: 'send', to: 'fd01:2::2', port: bPort, size: 1400 });
      await new Promise((r) => setTimeout(r, 100));
    }
    const err = await a.wait('error');
    assert.equal(err.code, 'EMSGSIZE');
    assert.equal(b.count('rx'), 0, 'routers never fragment IPv6: nothing oversized got through');

    const c = peer(NS.a);
    await c.open({ address: '::', port: 0, dontFragment: false });
    // The first may be lost to the Packet Too Big; once the path MTU is known A fragments.
    const until = Date.now() + 5000;
    while (b.count('rx') === 0 && Date.now() < until) {
      c.cmd({ op: 'send', to: 'fd01:2::2', port: bPort, size: 1400 });
      await new Promise((r) => setTimeout(r, 100));
    }
    const big = await b.wait('rx');
    assert.equal(big.len, 1400);
  });

  it('twampy CLI across R: one hop each way from Sender TTL and the reply TTL (IPv4 and IPv6); DSCP unchanged on a clean path', async () => {
    const resp = await responderIn(NS.b, ['[::]:0', '--dscp-ecn-monitoring', '--reply-dscp', 'copy']);
    try {
      for (const target of [`10.201.2.2:${resp.port}`, `[fd01:2::2]:${resp.port}`]) {
        const { received, path } = await pathFromA(target);
        assert.equal(received, 5, target);
        assert.deepEqual(path, {
          hopsOutbound: { last: 1, min: 1, max: 1 }, hopsInbound: { last: 1, min: 1, max: 1 },
          sentDscp: 46, reflectorRxDscp: 46, replyDscp: 46, remarkedOutbound: 0, remarkedInbound: 0,
        }, target);
      }
    } finally {
      await resp.stop();
    }
  });

  it('DSCP re-marked in R is reported: outbound from the RFC 7750 octet, inbound from the reply DSCP', async () => {
    const haveNft = !spawnSync('nft', ['--version']).error;
    if (haveNft) {
      // R re-marks towards B to AF11 (10) and towards A to CS1 (8): both directions change.
      const rules = `table inet twampy_remark {\n chain post {\n  type filter hook postrouting priority 0;\n` +
        `  oifname "${IF.r2}" ip dscp set af11\n  oifname "${IF.r2}" ip6 dscp set af11\n` +
        `  oifname "${IF.r1}" ip dscp set cs1\n  oifname "${IF.r1}" ip6 dscp set cs1\n }\n}\n`;
      const r = spawnSync('ip', ['netns', 'exec', NS.r, 'nft', '-f', '-'], { input: rules, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    }
    // Without nft the reply DSCP is set by the responder instead: an inbound change only.
    const resp = await responderIn(NS.b, ['[::]:0', '--dscp-ecn-monitoring', '--reply-dscp', haveNft ? 'copy' : 'af11']);
    try {
      for (const target of [`10.201.2.2:${resp.port}`, `[fd01:2::2]:${resp.port}`]) {
        const { received, path } = await pathFromA(target);
        assert.equal(received, 5, target);
        assert.deepEqual(path, haveNft
          ? { hopsOutbound: { last: 1, min: 1, max: 1 }, hopsInbound: { last: 1, min: 1, max: 1 }, sentDscp: 46, reflectorRxDscp: 10, replyDscp: 8, remarkedOutbound: 5, remarkedInbound: 5 }
          : { hopsOutbound: { last: 1, min: 1, max: 1 }, hopsInbound: { last: 1, min: 1, max: 1 }, sentDscp: 46, reflectorRxDscp: 46, replyDscp: 10, remarkedOutbound: 0, remarkedInbound: 5 },
        `${target} (${haveNft ? 'nft rule in R' : 'no nft: responder --reply-dscp af11'})`);
      }
    } finally {
      await resp.stop();
      if (haveNft) spawnSync('ip', ['netns', 'exec', NS.r, 'nft', 'delete', 'table', 'inet', 'twampy_remark']);
    }
  });
});
