/**
 * A small lab of Linux network namespaces on one bridge, for running the compose stack's
 * services without Docker: every service gets its own namespace, an address on a private /24 and
 * an /etc/hosts (through `ip netns exec`'s /etc/netns/NAME/hosts bind mount) that maps every
 * service name, so the services find each other by name on the ports compose uses. Needs root and
 * iproute2; nothing is changed in the caller's namespace or in /etc/hosts.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { repoPath, run, tempDir } from './util.js';

export interface Lab {
  /** Address of a service. */
  address(service: string): string;
  /** Starts a command inside a service's namespace. */
  spawn(service: string, argv: string[], env?: Record<string, string>): ChildProcess;
  /** Runs a command to completion inside a service's namespace. */
  exec(service: string, argv: string[], timeoutMs?: number): { status: number | null; output: string };
  /** Removes every namespace and hosts file of the lab. */
  destroy(): void;
}

/** Runs `ip ARGS`, throwing with its stderr on failure. */
function ip(args: string[]): void {
  const r = run('ip', args, { timeoutMs: 10_000 });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr || r.error?.message}`);
}

/**
 * Creates the lab; `subnet` is the first three octets of a private /24 (e.g. "10.77.3").
 * `extraNames` maps more host names to services' addresses (a name may map to several, like a
 * headless Service's DNS name).
 */
export function createLab(services: string[], subnet: string, extraNames: Record<string, string[]> = {}): Lab {
  const tag = `${process.pid % 100_000}`;
  const sw = `tdsw${tag}`;
  const nsOf = new Map(services.map((s, i) => [s, `td${i}x${tag}`]));
  const addrOf = new Map(services.map((s, i) => [s, `${subnet}.${i + 10}`]));
  const created: string[] = [];
  const destroy = (): void => {
    for (const ns of created.reverse()) {
      run('ip', ['netns', 'del', ns], { timeoutMs: 10_000 });
      rmSync(`/etc/netns/${ns}`, { recursive: true, force: true });
    }
    created.length = 0;
  };
  try {
    ip(['netns', 'add', sw]);
    created.push(sw);
    ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', sw, 'link', 'set', 'br0', 'up']);
    const extra = Object.entries(extraNames).flatMap(([name, to]) => to.map((svc) => `${addrOf.get(svc)} ${name}`));
    const hosts = ['127.0.0.1 localhost', ...services.map((s) => `${addrOf.get(s)} ${s}`), ...extra, ''].join('\n');
    services.forEach((s, i) => {
      const ns = nsOf.get(s)!;
      ip(['netns', 'add', ns]);
      created.push(ns);
      ip(['-n', sw, 'link', 'add', `v${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      ip(['-n', sw, 'link', 'set', `v${i}`, 'master', 'br0', 'up']);
      ip(['-n', ns, 'addr', 'add', `${addrOf.get(s)}/24`, 'dev', 'eth0']);
      ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
      ip(['-n', ns, 'link', 'set', 'lo', 'up']);
      mkdirSync(`/etc/netns/${ns}`, { recursive: true });
      writeFileSync(`/etc/netns/${ns}/hosts`, hosts);
    });
  } catch (e) {
    destroy();
    throw e;
  }
  return {
    address: (s) => addrOf.get(s)!,
    spawn: (s, argv, env = {}) =>
      spawn('ip', ['netns', 'exec', nsOf.get(s)!, ...argv], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] }),
    exec: (s, argv, timeoutMs = 10_000) => {
      const r = run('ip', ['netns', 'exec', nsOf.get(s)!, ...argv], { timeoutMs });
      return { status: r.status, output: `${r.stdout}${r.stderr}` };
    },
    destroy,
  };
}

/** Whether this test can create network namespaces (root); fails under CI=true when it cannot. */
export function canUseNetns(t: { skip: (msg: string) => void }): boolean {
  if (process.getuid?.() === 0) return true;
  if (process.env.CI === 'true') assert.fail('network namespaces need root');
  t.skip('network namespaces need root');
  return false;
}

/** Sends SIGTERM, then SIGKILL after a bound, and waits for the exit. */
export async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const timer = setTimeout(() => p.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Keeps a bounded copy of a child's output. */
export function captureOutput(p: ChildProcess): () => string {
  let out = '';
  const keep = (d: Buffer): void => {
    if (out.length < 20_000) out += d.toString();
  };
  p.stdout?.on('data', keep);
  p.stderr?.on('data', keep);
  return () => out;
}

export interface LabPrometheus {
  proc: ChildProcess;
  output: () => string;
  /** Instant query; the parsed API answer. */
  query(expr: string): Promise<any>;
  /** Series matching a selector; the parsed API answer. */
  series(match: string): Promise<any>;
  stop(): Promise<void>;
}

/**
 * Starts the real Prometheus with `configFile` inside `service`'s namespace, listening on its
 * loopback, and a helper there (ns-fetch) that carries the test's API requests over stdin/stdout.
 */
export function startLabPrometheus(lab: Lab, service: string, configFile: string): LabPrometheus {
  const tsdb = tempDir('twampy-lab-prom-');
  const proc = lab.spawn(service, [
    'prometheus', `--config.file=${configFile}`, `--storage.tsdb.path=${tsdb.dir}`,
    '--web.listen-address=127.0.0.1:9090', '--log.level=warn',
  ]);
  const output = captureOutput(proc);
  const helper = lab.spawn(service, [process.execPath, repoPath('dist', 'test', 'deploy', 'ns-fetch.js')]);
  const pending = new Map<number, (body: string) => void>();
  createInterface({ input: helper.stdout! }).on('line', (line) => {
    const a = JSON.parse(line) as { id: number; status: number; body: string };
    pending.get(a.id)?.(a.status === 0 ? JSON.stringify({ status: 'error', error: a.body }) : a.body);
    pending.delete(a.id);
  });
  let nextId = 0;
  const get = (path: string): Promise<any> =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, (body) => resolve(JSON.parse(body)));
      helper.stdin!.write(`${JSON.stringify({ id, url: `http://127.0.0.1:9090${path}` })}\n`);
    });
  return {
    proc,
    output,
    query: (expr) => get(`/api/v1/query?${new URLSearchParams({ query: expr })}`),
    series: (match) => get(`/api/v1/series?${new URLSearchParams({ 'match[]': match })}`),
    stop: async () => {
      helper.stdin!.end();
      await Promise.all([stopProcess(helper), stopProcess(proc)]);
      tsdb.remove();
    },
  };
}
