/**
 * Target and listen-address parsing (`host[:port]`, `[v6]:port`, bare IPv6) and name resolution.
 */
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { Family } from '../transport/types.js';

/** A target as the user wrote it, split into host and port. */
export interface ParsedTarget {
  /** As configured; used as the `target` label. */
  name: string;
  host: string;
  port: number;
}

/** Error for an unusable target, address or option value (exit code 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Parses `host`, `host:port`, `[v6]` , `[v6]:port` or a bare IPv6 address. */
export function parseHostPort(text: string, defaultPort: number, what = 'target'): ParsedTarget {
  const t = text.trim();
  let host: string;
  let portText: string | undefined;
  const bracket = /^\[([^\]]+)\](?::(.*))?$/.exec(t);
  if (bracket) {
    host = bracket[1]!;
    portText = bracket[2];
  } else if (t.split(':').length > 2) {
    host = t; // bare IPv6, no port
  } else {
    const i = t.lastIndexOf(':');
    host = i >= 0 ? t.slice(0, i) : t;
    portText = i >= 0 ? t.slice(i + 1) : undefined;
  }
  if (host === '' && what === 'listen address') host = '::';
  if (host === '' || /[\s/]/.test(host)) throw new UsageError(`invalid ${what} "${text}": expected host[:port] or [ipv6]:port`);
  if (bracket && isIP(host) !== 6) throw new UsageError(`invalid ${what} "${text}": brackets are for IPv6 addresses`);
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) {
      throw new UsageError(`invalid ${what} "${text}": port must be 0-65535`);
    }
    port = Number(portText);
  }
  if (what === 'target' && port === 0) throw new UsageError(`invalid target "${text}": port 0`);
  return { name: t, host, port };
}

/** Resolves a host to one address (an IP literal is returned as is). */
export async function resolveHost(host: string, family?: 4 | 6): Promise<{ address: string; family: Family }> {
  const kind = isIP(host);
  if (kind !== 0) {
    if (family && kind !== family) throw new Error(`${host} is not an IPv${family} address`);
    return { address: host, family: kind === 6 ? 'IPv6' : 'IPv4' };
  }
  const res = await lookup(host, { family: family ?? 0, all: true, verbatim: true });
  const first = res[0];
  if (!first) throw new Error(`${host} has no address`);
  return { address: first.address, family: first.family === 6 ? 'IPv6' : 'IPv4' };
}

/** Resolves a host to all its addresses (mesh discovery through a headless Service). */
export async function resolveAll(host: string, family?: 4 | 6): Promise<{ address: string; family: Family }[]> {
  if (isIP(host)) return [await resolveHost(host, family)];
  const res = await lookup(host, { family: family ?? 0, all: true, verbatim: true });
  const seen = new Set<string>();
  const out: { address: string; family: Family }[] = [];
  for (const r of res) {
    if (seen.has(r.address)) continue;
    seen.add(r.address);
    out.push({ address: r.address, family: r.family === 6 ? 'IPv6' : 'IPv4' });
  }
  return out;
}
