/**
 * The metrics HTTP server (default :8000): `/metrics` in the Prometheus text format 0.0.4,
 * `/healthz` (the process answers) and `/readyz` (the app says it is measuring or reflecting).
 * One server serves whatever the process runs: a sender, a responder, or both (the demo).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import { GZIP_LEVEL, gzipChunkBytes } from './segmented-gzip.js';

const gzipAsync = promisify(gzip);

/** Below this size compression costs more than it saves on loopback or a LAN. */
const GZIP_MIN_BYTES = 64 * 1024;

/** Content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** An exposition to serve; `release` (if any) is called once the body is no longer read. */
export interface ExpositionBody {
  body: string | Buffer;
  release?: () => void;
  /** Its gzip, when the producer compresses it better than the whole body at once. */
  gzip?: () => Promise<Buffer>;
}

/** What the server needs from the telemetry layer. */
export interface MetricsServerOptions {
  /** Address to bind; undefined = all interfaces. */
  host?: string;
  port: number;
  /**
   * gzip /metrics for clients that accept it (default true). Off, a scrape costs the process
   * only writing the text: at 1,000 targets gzip is a quarter to a third of a scrape's CPU (less
   * when few families changed), for 14 times fewer bytes; worth turning off only when the scraper
   * is on the same host.
   */
  gzip?: boolean;
  /** Produces the exposition (text or its UTF-8 bytes). */
  exposition: () => Promise<ExpositionBody>;
  /** Whether /readyz answers 200. */
  ready: () => boolean;
  /** Reports a failed collection (rate-limited by the caller). */
  onError?: (err: unknown) => void;
}

/** A running metrics server. */
export interface MetricsServer {
  /** Bound address and port (port 0 resolves here). */
  readonly address: string;
  readonly port: number;
  /** Stops listening and closes open connections. */
  close(): Promise<void>;
}

/** The server could not listen (port in use, address not local, ...). */
export class MetricsListenError extends Error {
  readonly code = 'ERR_TWAMPY_METRICS_LISTEN';
  constructor(message: string, override readonly cause: unknown) {
    super(message);
    this.name = 'MetricsListenError';
  }
}

function send(res: ServerResponse, status: number, body: string | Buffer, type = 'text/plain; charset=utf-8'): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

async function serveMetrics(req: IncomingMessage, res: ServerResponse, opts: MetricsServerOptions): Promise<void> {
  let exposition: ExpositionBody;
  try {
    exposition = await opts.exposition();
  } catch (err) {
    opts.onError?.(err);
    send(res, 500, `metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return;
  }
  const { body, release, gzip: gzipBody } = exposition;
  const accepts = String(req.headers['accept-encoding'] ?? '');
  if (opts.gzip !== false && body.length >= GZIP_MIN_BYTES && /\bgzip\b/.test(accepts)) {
    let gz: Buffer;
    try {
      gz = gzipBody ? await gzipBody() : await gzipAsync(body, { level: GZIP_LEVEL, chunkSize: gzipChunkBytes(body.length) });
    } finally {
      release?.();
    }
    res.setHeader('Content-Encoding', 'gzip');
    send(res, 200, gz, PROMETHEUS_CONTENT_TYPE);
    return;
  }
  // Sent as it is: lent until the response is done with it (finished or aborted).
  if (release) res.once('close', release);
  send(res, 200, body, PROMETHEUS_CONTENT_TYPE);
}

function handle(req: IncomingMessage, res: ServerResponse, opts: MetricsServerOptions): void {
  let path: string;
  try {
    path = new URL(req.url ?? '/', 'http://localhost').pathname;
  } catch {
    send(res, 400, 'bad request\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    send(res, 405, 'method not allowed\n');
    return;
  }
  switch (path) {
    case '/metrics':
      serveMetrics(req, res, opts).catch((err: unknown) => {
        opts.onError?.(err);
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.destroy();
      });
      return;
    case '/healthz':
      send(res, 200, 'ok\n');
      return;
    case '/readyz':
      if (opts.ready()) send(res, 200, 'ready\n');
      else send(res, 503, 'not ready\n');
      return;
    case '/':
      send(res, 200, 'twampy: see /metrics, /healthz, /readyz\n');
      return;
    default:
      send(res, 404, 'not found\n');
  }
}

/** Starts the metrics server; rejects with MetricsListenError when it cannot listen. */
export async function startMetricsServer(opts: MetricsServerOptions): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => handle(req, res, opts));
  // Slow or stuck clients must not hold sockets for ever.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const where = `${opts.host ?? 'all interfaces'} port ${opts.port}`;
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is in use (another twampy? choose one with --metrics-port)'
          : err.code === 'EADDRNOTAVAIL'
            ? 'the address is not on this host (check --metrics-host)'
            : err.code === 'EACCES'
              ? 'permission denied (ports below 1024 need privileges)'
              : err.message;
      reject(new MetricsListenError(`cannot serve metrics on ${where}: ${why}`, err));
    };
    server.once('error', onError);
    server.listen({ port: opts.port, host: opts.host }, () => {
      server.off('error', onError);
      server.on('error', (err) => opts.onError?.(err));
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    address: addr.address,
    port: addr.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
