/**
 * Terminal and JSON output of the sender: a line per reply in nokia/twampy's style, then per
 * target the twampy-style table with percentiles and packet counts, or one JSON object per
 * target and report (`--json`, one object per line).
 */
import type { DirectionStats, HopStats, PathStats, SenderObserver, StatsEvent, TargetStats } from '../session/events.js';

/** Formats milliseconds with microsecond resolution. */
function ms(v: number | null): string {
  return v === null ? '-' : `${v.toFixed(3)}ms`;
}

function pct(v: number | null): string {
  return v === null ? '-' : `${v.toFixed(1)}%`;
}

const RULE = '='.repeat(104);
const THIN = '-'.repeat(104);

function hops(h: HopStats | null): string {
  return h === null ? '-' : h.min === h.max ? String(h.last) : `${h.last} (${h.min}-${h.max})`;
}

/** The path line of a table (hop counts, DSCP re-marking), or null when nothing of it was measured. */
export function formatPath(p: PathStats): string | null {
  if (p.hopsOutbound === null && p.hopsInbound === null && p.reflectorRxDscp === null && p.replyDscp === null) return null;
  let line = `Path: hops outbound ${hops(p.hopsOutbound)}, inbound ${hops(p.hopsInbound)}; DSCP sent ${p.sentDscp}`;
  if (p.reflectorRxDscp !== null) line += `, at reflector ${p.reflectorRxDscp} (re-marked on ${p.remarkedOutbound ?? 0} replies)`;
  if (p.replyDscp !== null) line += `, reply ${p.replyDscp}${p.remarkedInbound === null ? '' : ` (differs from the reflector's on ${p.remarkedInbound})`}`;
  return line;
}

/** Renders the statistics table of one target. */
export function formatStatsTable(s: TargetStats, final: boolean): string {
  const rows: [string, DirectionStats][] = [
    ['Outbound', s.outbound],
    ['Inbound', s.inbound],
    ['Roundtrip', s.roundtrip],
  ];
  const head = ['Direction', 'Min', 'Max', 'Avg', 'Jitter', 'Loss', 'p50', 'p90', 'p99'];
  const w = [12, 11, 11, 11, 11, 8, 11, 11, 11];
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' ');
  const out = [
    RULE,
    `${final ? 'Statistics' : 'Period statistics'} for ${s.target} (${s.address.includes(':') ? `[${s.address}]` : s.address}:${s.port}): ` +
      `sent ${s.sent}, received ${s.received}, lost ${s.lost}, duplicates ${s.duplicates}, reordered ${s.reordered}, late ${s.late}`,
    THIN,
    line(head),
  ];
  for (const [name, d] of rows) {
    out.push(line([`  ${name}:`, ms(d.minMs), ms(d.maxMs), ms(d.avgMs), ms(d.jitterMs), pct(d.lossPct), ms(d.p50Ms), ms(d.p90Ms), ms(d.p99Ms)]));
  }
  out.push(THIN);
  const path = formatPath(s.path);
  if (path !== null) out.push(path);
  if (s.received > 0 && !s.clockSynced) {
    out.push('warning: outbound/inbound figures rest on clocks not both synchronised (Error Estimate S bit); only roundtrip is exact');
  }
  if (s.lost > 0 && s.reflectorStateful !== true) {
    out.push('note: loss is not split by direction: the reflector has not shown a counter of its own (stateless, or no outbound loss yet)');
  }
  out.push('Jitter: RFC 3550 estimator; percentiles: exact (nearest rank)');
  out.push(RULE);
  return out.join('\n');
}

/** The JSON object of one target's report; `results` keeps the seed fork's per-direction shape. */
export function statsToJson(e: StatsEvent): Record<string, unknown> {
  const s = e.stats;
  const dir = (direction: string, d: DirectionStats) => ({
    direction,
    min: d.minMs,
    max: d.maxMs,
    avg: d.avgMs,
    jitter: d.jitterMs,
    loss: d.lossPct,
    p50: d.p50Ms,
    p90: d.p90Ms,
    p99: d.p99Ms,
    samples: d.samples,
  });
  return {
    target: s.target,
    address: s.address,
    port: s.port,
    result: e.result,
    final: e.final,
    start: new Date(Number(s.startNs / 1_000_000n)).toISOString(),
    end: new Date(Number(s.endNs / 1_000_000n)).toISOString(),
    sent: s.sent,
    received: s.received,
    lost: s.lost,
    lostOutbound: s.lostOutbound,
    lostInbound: s.lostInbound,
    duplicates: s.duplicates,
    reordered: s.reordered,
    late: s.late,
    clockSynced: s.clockSynced,
    reflectorStateful: s.reflectorStateful,
    path: s.path,
    units: 'ms',
    results: [dir('outbound', s.outbound), dir('inbound', s.inbound), dir('roundtrip', s.roundtrip)],
  };
}

/** Options of the printer. */
export interface PrinterOptions {
  json: boolean;
  /** 0 quiet (tables only), 1 normal (reply lines), 2 verbose (also losses and drops). */
  verbosity: 0 | 1 | 2;
  /** Print a line per reply (off in continuous mode unless verbose). */
  replyLines: boolean;
  write: (text: string) => void;
}

/** A SenderObserver that prints. */
export function createPrinter(o: PrinterOptions): SenderObserver {
  return {
    onReply(e) {
      if (o.json || !o.replyLines || o.verbosity === 0) return;
      const tag = e.late ? ' (late)' : e.duplicate ? ' (duplicate)' : e.reordered ? ' (reordered)' : '';
      // ttl: what the reflector saw of our packet; rttl/rdscp: the reply as it reached us (native layer).
      const ttl =
        (e.senderTtl === null ? '' : ` ttl=${e.senderTtl}`) +
        (e.replyTtl === null || e.replyTtl === undefined ? '' : ` rttl=${e.replyTtl}`) +
        (e.replyTos === null || e.replyTos === undefined ? '' : ` rdscp=${e.replyTos >> 2}`) +
        // RFC 7750: the DSCP and ECN our packet reached the reflector with.
        (e.reflectorRxTos === null || e.reflectorRxTos === undefined ? '' : ` dscp_at_reflector=${e.reflectorRxTos >> 2} ecn_at_reflector=${e.reflectorRxTos & 3}`) +
        (e.hopsOutbound === null || e.hopsOutbound === undefined ? '' : ` hops_out=${e.hopsOutbound}`) +
        (e.hopsInbound === null || e.hopsInbound === undefined ? '' : ` hops_in=${e.hopsInbound}`);
      o.write(
        `Reply from ${e.address.includes(':') ? `[${e.address}]` : e.address}:${e.port} [rseq=${e.reflectorSeq} sseq=${e.seq} ` +
          `rtt=${(Number(e.rttNs) / 1e6).toFixed(3)}ms outbound=${(Number(e.outboundNs) / 1e6).toFixed(3)}ms ` +
          `inbound=${(Number(e.inboundNs) / 1e6).toFixed(3)}ms size=${e.bytes}${ttl}]${tag}`,
      );
    },
    onLoss(e) {
      if (!o.json && o.verbosity >= 2) o.write(`Request timeout for ${e.target} sseq=${e.seq}`);
    },
    onStats(e) {
      o.write(o.json ? JSON.stringify(statsToJson(e)) : formatStatsTable(e.stats, e.final));
    },
  };
}
