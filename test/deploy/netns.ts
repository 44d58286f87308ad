/**
 * A small lab of Linux network namespaces on one bridge, for running the compose stack's
 * services without Docker: every service gets its own namespace, an address on a private /24 and
 * an /etc/hosts (through `ip netns exec`'s /etc/netns/NAME/hosts bind mount) that maps every
 * service name, so the services find each other by name on the ports compose uses. Needs root and
 * iproute2; nothing is changed in the caller's namespace or in /etc/hosts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { run } from './util.js';

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

/** Creates the lab; `subnet` is the first three octets of a private /24 (e.g. "10.77.3"). */
export function createLab(services: string[], subnet: string): Lab {
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
    const hosts = ['127.0.0.1 localhost', ...services.map((s) => `${addrOf.get(s)} ${s}`), ''].join('\n');
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
