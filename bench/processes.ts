/**
 * What the benchmarks share: child processes (a loopback responder, stopping, RSS), a free port,
 * sleeping and the median.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** Path of the compiled CLI entry. */
export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident memory of a process in MiB (NaN when /proc does not say). */
export function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Stops a child with `signal` (SIGKILL after 10 s) and waits for its exit. */
export async function stopProcess(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((r) => {
    p.once('exit', () => r());
    p.kill(signal);
    setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
  });
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Starts a responder listening on `addresses` (port 0 each) and returns the bound `addr:port`s.
 * Each target gets its own loopback address so that names differ, and the responder binds that
 * very address: a responder on 0.0.0.0 would answer from 127.0.0.1, and the sender drops replies
 * from an address other than the target's.
 */
export async function startResponder(addresses: string[]): Promise<{ p: ChildProcess; bound: string[] }> {
  const p = spawn(process.execPath, [CLI, 'responder', ...addresses.map((a) => `${a}:0`), '--rate-limit', '0', '-q'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const bound = await new Promise<string[]>((resolve, reject) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const found = [...out.matchAll(/listening on (\d+\.\d+\.\d+\.\d+:\d+)/g)].map((m) => m[1]!);
      if (found.length === addresses.length) resolve(found);
    });
    p.once('exit', (code) => reject(new Error(`responder exited with ${code}`)));
  });
  return { p, bound };
}

/** The median (the mean of the two middle values for an even count; NaN when empty). */
export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
