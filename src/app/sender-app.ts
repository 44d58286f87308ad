/**
 * The sender application: turns configured targets (static, from a file, or discovered through
 * DNS) into running Sender targets, re-resolves names in long runs, and applies changes to the
 * target set (a removed target stops and its series go away).
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { Clock, Scheduler, Cancel } from '../session/clock.js';
import type { SenderObserver } from '../session/events.js';
import type { Transport } from '../transport/types.js';
import { Sender, type SenderOptions, type TargetSpec } from '../session/sender.js';
import { parseHostPort, resolveAll, resolveHost, UsageError, type ParsedTarget } from '../config/targets.js';
import { DEFAULT_TEST_PORT } from '../config/defaults.js';

/** What the sender app measures and how it finds its targets. */
export interface SenderAppOptions {
  targets: ParsedTarget[];
  /** Mesh discovery: every address of HOST becomes a target at PORT. */
  discover: ParsedTarget[];
  discoverIntervalMs: number;
  /** Addresses never measured (e.g. our own pod IP). */
  exclude: string[];
  /** YAML file with a list of targets, re-read on reload(). */
  targetsFile?: string;
  family?: 4 | 6;
  /** Re-resolve target names this often in continuous mode, ms. */
  resolveIntervalMs: number;
  sender: SenderOptions;
}

/** Parses a targets file: a YAML (or JSON) list of `host[:port]` strings or `{target: ...}` maps. */
export function parseTargetsFile(text: string, file: string): ParsedTarget[] {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc && typeof doc === 'object' && !Array.isArray(doc) && 'targets' in doc) doc = (doc as { targets: unknown }).targets;
  if (doc === null || doc === undefined) return [];
  if (!Array.isArray(doc)) throw new UsageError(`${file}: expected a list of targets (or a map with a "targets" list)`);
  return doc.map((item, i) => {
    const t = typeof item === 'string' ? item : item && typeof item === 'object' ? (item as { target?: unknown }).target : undefined;
    if (typeof t !== 'string') throw new UsageError(`${file}: entry ${i + 1} is not a "host[:port]" string or a map with "target"`);
    try {
      return parseHostPort(t, DEFAULT_TEST_PORT);
    } catch (err) {
      throw new UsageError(`${file}: entry ${i + 1}: ${(err as Error).message}`);
    }
  });
}

/** Runs a Sender over a set of targets that may change. */
export class SenderApp {
  readonly sender: Sender;
  /** Targets that failed to resolve or open, by name, with the reason. */
  readonly failed = new Map<string, string>();
  /** Pending refresh timers (re-resolution, discovery), cancelled on stop. */
  private readonly timers = new Set<Cancel>();
  private fileTargets: ParsedTarget[] = [];
  private discovered = new Map<string, TargetSpec>(); // name -> spec, from --discover
  private stopped = false;

  constructor(
    private readonly opts: SenderAppOptions,
    transport: Transport,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly observer: SenderObserver,
  ) {
    this.sender = new Sender(opts.sender, transport, clock, scheduler, observer);
  }

  private get continuous(): boolean {
    return this.opts.sender.count === 0;
  }

  /** Resolves and starts every target; unresolvable ones are reported and skipped. */
  async start(): Promise<void> {
    if (this.opts.targetsFile) this.fileTargets = await this.readTargetsFile();
    await this.sync();
    if (this.continuous) {
      this.every(this.opts.resolveIntervalMs, () => this.reresolve());
      if (this.opts.discover.length > 0) this.every(this.opts.discoverIntervalMs, () => this.sync());
    }
  }

  /** Re-reads the targets file (SIGHUP) and applies additions and removals. A bad file keeps the current set. */
  async reload(): Promise<void> {
    if (!this.opts.targetsFile) return;
    this.fileTargets = await this.readTargetsFile();
    await this.sync();
  }

  private async readTargetsFile(): Promise<ParsedTarget[]> {
    const file = this.opts.targetsFile!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read targets file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return parseTargetsFile(text, file);
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const tick = () => {
      if (this.stopped) return;
      const cancel = this.scheduler.setTimeout(() => {
        this.timers.delete(cancel);
        fn().catch((err) => this.observer.onTargetError?.({ target: '*', code: 'ERR_REFRESH', message: (err as Error).message })).finally(tick);
      }, ms);
      this.timers.add(cancel);
    };
    tick();
  }


  /** Brings the running target set in line with static, file and discovered targets. */
  private async sync(): Promise<void> {
    const wanted = new Map<string, ParsedTarget>();
    for (const t of [...this.opts.targets, ...this.fileTargets]) wanted.set(t.name, t);
    const discoveredSpecs = await this.discover();
    const running = new Set(this.sender.targets());
    for (const name of running) {
      if (!wanted.has(name) && !discoveredSpecs.has(name)) await this.sender.removeTarget(name);
    }
    for (const [name, t] of wanted) {
      if (running.has(name) || this.stopped) continue;
      let spec: TargetSpec;
      try {
        const r = await resolveHost(t.host, this.opts.family);
        spec = { name, address: r.address, port: t.port, family: r.family };
      } catch (err) {
        this.fail(name, 'ERR_RESOLVE', `cannot resolve ${t.host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        continue;
      }
      if (this.opts.exclude.includes(spec.address)) continue;
      await this.add(spec);
    }
    for (const [name, spec] of discoveredSpecs) {
      if (!running.has(name) && !wanted.has(name) && !this.stopped) await this.add(spec);
    }
  }

  private async discover(): Promise<Map<string, TargetSpec>> {
    if (this.opts.discover.length === 0) return this.discovered;
    const next = new Map<string, TargetSpec>();
    for (const d of this.opts.discover) {
      try {
        for (const r of await resolveAll(d.host, this.opts.family)) {
          if (this.opts.exclude.includes(r.address)) continue;
          const name = r.family === 'IPv6' ? `[${r.address}]:${d.port}` : `${r.address}:${d.port}`;
          next.set(name, { name, address: r.address, port: d.port, family: r.family });
        }
      } catch (err) {
        // Keep the previous set: a DNS hiccup must not drop the whole mesh.
        this.observer.onTargetError?.({ target: d.name, code: 'ERR_DISCOVER', message: `cannot resolve ${d.host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
        for (const [k, v] of this.discovered) if (v.port === d.port) next.set(k, v);
      }
    }
    this.discovered = next;
    return next;
  }

  private async add(spec: TargetSpec): Promise<void> {
    try {
      await this.sender.addTarget(spec);
      this.failed.delete(spec.name);
    } catch (err) {
      // Unsupported features (DSCP on dgram) and bind errors concern every target: let them out.
      if ((err as { code?: string }).code === 'ERR_TWAMPY_UNSUPPORTED' || (err as NodeJS.ErrnoException).code === 'EADDRINUSE' || (err as NodeJS.ErrnoException).code === 'EADDRNOTAVAIL') throw err;
      this.fail(spec.name, 'ERR_OPEN', (err as Error).message);
    }
  }

  private fail(name: string, code: string, message: string): void {
    this.failed.set(name, message);
    this.observer.onTargetError?.({ target: name, code, message });
  }

  /** Re-resolves names; a target whose address changed is pointed at the new one. */
  private async reresolve(): Promise<void> {
    for (const t of [...this.opts.targets, ...this.fileTargets]) {
      const current = this.sender.addressOf(t.name);
      if (current === undefined) continue;
      try {
        const r = await resolveHost(t.host, this.opts.family);
        if (r.address !== current) this.sender.updateAddress(t.name, r.address);
      } catch {
        // keep the last good address
      }
    }
    await this.sync(); // retries targets that failed to resolve before
  }

  /** Resolves when a finite run has finished. */
  async done(): Promise<void> {
    await this.sender.done();
  }

  /** Stops everything; `emitFinal` reports the partial period. */
  async stop(emitFinal = true): Promise<void> {
    this.stopped = true;
    for (const c of this.timers) c();
    this.timers.clear();
    await this.sender.stop(emitFinal);
  }
}
