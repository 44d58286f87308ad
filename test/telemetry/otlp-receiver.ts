/**
 * A loopback OTLP/HTTP metrics receiver for tests. It decodes what the real exporter pushes,
 * JSON as it is and protobuf with the generated decoder of @opentelemetry/otlp-transformer
 * 0.217.0 (installed as `otlp-decoder`), into one plain shape. It can also refuse (503) or hang
 * (never answer) to play a broken collector.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

interface ProtoType {
  decode(buf: Uint8Array): unknown;
  toObject(msg: unknown, opts: Record<string, unknown>): unknown;
}
const protoRoot = require('otlp-decoder/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { metrics: { v1: { ExportMetricsServiceRequest: ProtoType } } } } };
};
const ExportMetricsServiceRequest = protoRoot.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

/** One data point, numbers already converted. */
export interface OtlpPoint {
  attributes: Record<string, string>;
  value?: number;
  count?: number;
  sum?: number;
  bucketCounts?: number[];
  explicitBounds?: number[];
  startTimeUnixNano?: number;
  timeUnixNano?: number;
}

/** One metric. */
export interface OtlpMetric {
  name: string;
  unit: string;
  description: string;
  kind: 'sum' | 'gauge' | 'histogram' | 'other';
  monotonic?: boolean;
  /** 1 = delta, 2 = cumulative. */
  temporality?: number;
  scope: string;
  points: OtlpPoint[];
}

/** One decoded export request. */
export interface OtlpRequest {
  contentType: string;
  headers: IncomingMessage['headers'];
  resource: Record<string, string>;
  metrics: Map<string, OtlpMetric>;
}

/** How the receiver behaves. */
export type ReceiverMode = 'ok' | 'refuse' | 'hang';

/** A running receiver. */
export interface OtlpReceiver {
  url: string;
  /** Requests decoded (in ok mode). */
  requests: OtlpRequest[];
  /** Requests seen in any mode. */
  attempts: number;
  mode: ReceiverMode;
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

function num(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'number' ? v : Number(v);
}

function attrs(list: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of (list as Json[] | undefined) ?? []) {
    const v = a.value as Json | undefined;
    const raw = v?.stringValue ?? v?.intValue ?? v?.doubleValue ?? v?.boolValue;
    out[String(a.key)] = String(raw);
  }
  return out;
}

function point(dp: Json): OtlpPoint {
  return {
    attributes: attrs(dp.attributes),
    value: num(dp.asDouble ?? dp.asInt),
    count: num(dp.count),
    sum: num(dp.sum),
    bucketCounts: (dp.bucketCounts as unknown[] | undefined)?.map((c) => Number(c)),
    explicitBounds: (dp.explicitBounds as unknown[] | undefined)?.map((c) => Number(c)),
    startTimeUnixNano: num(dp.startTimeUnixNano),
    timeUnixNano: num(dp.timeUnixNano),
  };
}

/** Normalises a JSON-shaped ExportMetricsServiceRequest (from JSON or from protobuf's toObject). */
export function normalise(body: Json, contentType: string, headers: IncomingMessage['headers']): OtlpRequest {
  const metrics = new Map<string, OtlpMetric>();
  let resource: Record<string, string> = {};
  for (const rm of (body.resourceMetrics as Json[] | undefined) ?? []) {
    resource = attrs((rm.resource as Json | undefined)?.attributes);
    for (const sm of (rm.scopeMetrics as Json[] | undefined) ?? []) {
      const scope = String((sm.scope as Json | undefined)?.name ?? '');
      for (const m of (sm.metrics as Json[] | undefined) ?? []) {
        const kind = m.sum ? 'sum' : m.gauge ? 'gauge' : m.histogram ? 'histogram' : 'other';
        const data = (m.sum ?? m.gauge ?? m.histogram ?? {}) as Json;
        metrics.set(String(m.name), {
          name: String(m.name),
          unit: String(m.unit ?? ''),
          description: String(m.description ?? ''),
          kind,
          monotonic: m.sum ? Boolean(data.isMonotonic) : undefined,
          temporality: num(data.aggregationTemporality),
          scope,
          points: ((data.dataPoints as Json[] | undefined) ?? []).map(point),
        });
      }
    }
  }
  return { contentType, headers, resource, metrics };
}

function decode(req: IncomingMessage, body: Buffer): OtlpRequest {
  const type = String(req.headers['content-type'] ?? '');
  if (type.startsWith('application/json')) return normalise(JSON.parse(body.toString('utf8')) as Json, type, req.headers);
  if (type.startsWith('application/x-protobuf')) {
    const msg = ExportMetricsServiceRequest.decode(body);
    const obj = ExportMetricsServiceRequest.toObject(msg, { longs: String, enums: Number, bytes: String, defaults: false }) as Json;
    return normalise(obj, type, req.headers);
  }
  throw new Error(`unexpected content-type ${type}`);
}

/** Starts a receiver on 127.0.0.1 (ephemeral port). */
export async function startOtlpReceiver(mode: ReceiverMode = 'ok'): Promise<OtlpReceiver> {
  const sockets = new Set<Socket>();
  const r: OtlpReceiver = { url: '', requests: [], attempts: 0, mode, close: async () => {} };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.attempts++;
      if (r.mode === 'hang') return; // never answer
      if (r.mode === 'refuse') {
        res.statusCode = 503;
        res.end('unavailable');
        return;
      }
      try {
        r.requests.push(decode(req, Buffer.concat(chunks)));
        res.statusCode = 200;
        res.setHeader('content-type', String(req.headers['content-type'] ?? 'application/json'));
        // An empty ExportMetricsServiceResponse in either encoding.
        res.end(String(req.headers['content-type']).startsWith('application/json') ? '{}' : '');
      } catch (err) {
        res.statusCode = 400;
        res.end(String(err));
      }
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  r.url = `http://127.0.0.1:${port}/v1/metrics`;
  r.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  return r;
}

/** The newest decoded request that has `name`, or undefined. */
export function latestWith(r: OtlpReceiver, name: string): OtlpRequest | undefined {
  for (let i = r.requests.length - 1; i >= 0; i--) if (r.requests[i]!.metrics.has(name)) return r.requests[i];
  return undefined;
}
