/**
 * The metrics catalogue: every series twampy exposes, with its type, unit, labels and meaning.
 *
 * This is the one place where names live. The instruments are created from it, the golden
 * exposition tests compare against it, and `docs/metrics.md` (the README's metrics table) is
 * checked against it by a test, so the three cannot drift apart.
 *
 * Names are Prometheus-style (underscores) so that the pull exposition and an OTLP pipeline
 * that ends in Prometheus produce the same names. Counters are named without `_total`; the
 * Prometheus exporter appends it.
 */

/** Instrument kinds used by twampy. Observable kinds are read at collection time. */
export type MetricKind = 'counter' | 'gauge' | 'observable_counter' | 'observable_gauge' | 'histogram';

/** One entry of the catalogue. */
export interface MetricSpec {
  /** Instrument name (Prometheus name without the `_total` a counter gets on exposition). */
  name: string;
  kind: MetricKind;
  /** UCUM unit as OpenTelemetry carries it. */
  unit: string;
  /** Label keys in exposition order. */
  labels: readonly string[];
  /** HELP text. */
  help: string;
  /** Who records it. */
  role: 'sender' | 'responder' | 'control' | 'process' | 'exporter';
  /** Present only with an opt-in (for the README table). */
  optIn?: string;
}

/** Label keys; kept to a bounded set (see docs/metrics.md for the cardinality per target). */
export const LABEL = {
  source: 'source',
  target: 'target',
  direction: 'direction',
  reason: 'reason',
  result: 'twampy_result',
  outcome: 'outcome',
  id: 'id',
} as const;

const ST = [LABEL.source, LABEL.target] as const;
const STD = [LABEL.source, LABEL.target, LABEL.direction] as const;

/**
 * Default delay histogram boundaries in seconds: 50 us * 2^n up to ~3.3 s (17 buckets), the
 * smokeping_prober layout. Doubling keeps the relative error of a quantile estimate bounded
 * (<= 50 % of the value, typically far less) across five decades with few series per target.
 */
export const DEFAULT_DELAY_BUCKETS_S: readonly number[] = Array.from({ length: 17 }, (_, n) =>
  Number((50e-6 * 2 ** n).toPrecision(6)),
);

/**
 * Responder processing time (T3-T2) boundaries in seconds: 1 us to 100 ms on a 1-2.5-5 ladder.
 * Reflection takes microseconds; the upper buckets catch event-loop stalls.
 */
export const PROCESSING_BUCKETS_S: readonly number[] = [
  1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2,
  1e-1,
];

/** Sender series, seed-compatible first (names, ms and percent as the seed fork had them). */
export const SENDER_METRICS = {
  latencyMin: {
    name: 'twampy_latency_min',
    kind: 'gauge',
    unit: 'ms',
    labels: STD,
    help: 'TWAMP min latency in ms over the last round or period',
    role: 'sender',
  },
  latencyAvg: {
    name: 'twampy_latency_avg',
    kind: 'gauge',
    unit: 'ms',
    labels: STD,
    help: 'TWAMP avg latency in ms over the last round or period',
    role: 'sender',
  },
  latencyMax: {
    name: 'twampy_latency_max',
    kind: 'gauge',
    unit: 'ms',
    labels: STD,
    help: 'TWAMP max latency in ms over the last round or period',
    role: 'sender',
  },
  jitter: {
    name: 'twampy_jitter',
    kind: 'gauge',
    unit: 'ms',
    labels: STD,
    help: 'TWAMP jitter (RFC 3550) in ms at the end of the last round or period',
    role: 'sender',
  },
  loss: {
    name: 'twampy_loss',
    kind: 'gauge',
    unit: '%',
    labels: STD,
    help: 'TWAMP loss in percent of packets sent in the last round or period',
    role: 'sender',
  },
  result: {
    name: 'twampy_result',
    kind: 'gauge',
    unit: '1',
    labels: [LABEL.source, LABEL.target, LABEL.result],
    help: 'TWAMP result of the last round or period: 1 for the current state (ok or error), 0 for the other',
    role: 'sender',
  },
  edge: {
    name: 'twampy_edge',
    kind: 'gauge',
    unit: '1',
    labels: [LABEL.id, LABEL.source, LABEL.target],
    help: 'Edge for the Grafana node graph, 1 while the target is configured; loss and latency come from twampy_loss and twampy_latency_avg',
    role: 'sender',
    optIn: '--nodegraph',
  },
  delay: {
    name: 'twampy_delay_seconds',
    kind: 'histogram',
    unit: 's',
    labels: STD,
    help: 'Delay per on-time reply in seconds, added at the end of each round or period; roundtrip always, outbound and inbound only when both clocks were synchronised for the whole period or one-way histograms are forced',
    role: 'sender',
  },
  sent: {
    name: 'twampy_packets_sent',
    kind: 'counter',
    unit: '{packet}',
    labels: ST,
    help: 'Test packets sent, counted at the end of the round or period that settled their fate (reply or timeout), so that sent = received + lost',
    role: 'sender',
  },
  received: {
    name: 'twampy_packets_received',
    kind: 'counter',
    unit: '{packet}',
    labels: ST,
    help: 'Replies received within the timeout (duplicates excluded)',
    role: 'sender',
  },
  lost: {
    name: 'twampy_packets_lost',
    kind: 'counter',
    unit: '{packet}',
    labels: STD,
    help: 'Packets without a reply within the timeout; outbound and inbound only when the reflector keeps its own sequence counter',
    role: 'sender',
  },
  duplicated: {
    name: 'twampy_packets_duplicated',
    kind: 'counter',
    unit: '{packet}',
    labels: ST,
    help: 'Duplicate replies received',
    role: 'sender',
  },
  reordered: {
    name: 'twampy_packets_reordered',
    kind: 'counter',
    unit: '{packet}',
    labels: ST,
    help: 'Replies that arrived after a reply with a higher sequence number (RFC 4737)',
    role: 'sender',
  },
  late: {
    name: 'twampy_packets_late',
    kind: 'counter',
    unit: '{packet}',
    labels: ST,
    help: 'Replies that arrived after the timeout (also counted as lost)',
    role: 'sender',
  },
  clockSynced: {
    name: 'twampy_clock_synchronized',
    kind: 'gauge',
    unit: '1',
    labels: ST,
    help: '1 when every reply of the last period that had replies came with both clocks claiming synchronisation (S bit), else 0',
    role: 'sender',
  },
  hops: {
    name: 'twampy_hops',
    kind: 'gauge',
    unit: '{hop}',
    labels: STD,
    help: 'Routers crossed by the last reply of the last round or period: outbound from Sender TTL, inbound from the reply TTL (native layer; assumes the reflector sends with TTL 255)',
    role: 'sender',
  },
  dscpRemarked: {
    name: 'twampy_dscp_remarked',
    kind: 'counter',
    unit: '{packet}',
    labels: STD,
    help: 'Replies whose DSCP changed on the way: outbound, the request reached the reflector re-marked (RFC 7750 monitoring); inbound, the reply arrived with a DSCP other than the reflector received (a re-marking when the reflector copies it)',
    role: 'sender',
  },
  errors: {
    name: 'twampy_target_errors',
    kind: 'counter',
    unit: '{error}',
    labels: [LABEL.source, LABEL.target, LABEL.reason],
    help: 'Errors of a target by stable code (resolution failed, send failed, ...)',
    role: 'sender',
  },
  dropped: {
    name: 'twampy_sender_packets_dropped',
    kind: 'counter',
    unit: '{packet}',
    labels: [LABEL.source, LABEL.reason],
    help: 'Datagrams the sender could not use, by reason',
    role: 'sender',
  },
} as const satisfies Record<string, MetricSpec>;

/** Responder series. */
export const RESPONDER_METRICS = {
  reflected: {
    name: 'twampy_responder_packets_reflected',
    kind: 'counter',
    unit: '{packet}',
    labels: [LABEL.source],
    help: 'Test packets reflected',
    role: 'responder',
  },
  dropped: {
    name: 'twampy_responder_packets_dropped',
    kind: 'counter',
    unit: '{packet}',
    labels: [LABEL.source, LABEL.reason],
    help: 'Datagrams dropped by the responder, by reason',
    role: 'responder',
  },
  sessions: {
    name: 'twampy_responder_active_sessions',
    kind: 'gauge',
    unit: '{session}',
    labels: [LABEL.source],
    help: 'Sessions (sender address and port) the responder currently holds',
    role: 'responder',
  },
  processing: {
    name: 'twampy_responder_processing_seconds',
    kind: 'histogram',
    unit: 's',
    labels: [LABEL.source],
    help: 'Responder processing time T3-T2 in seconds',
    role: 'responder',
  },
  kernelDrops: {
    name: 'twampy_responder_kernel_drops',
    kind: 'counter',
    unit: '{packet}',
    labels: [LABEL.source],
    help: 'Datagrams the kernel dropped before the responder read them (receive buffer full, SO_RXQ_OVFL), summed over its sockets; native socket layer only',
    role: 'responder',
  },
} as const satisfies Record<string, MetricSpec>;

/** TWAMP-Control server series (`twampy server`). */
export const CONTROL_METRICS = {
  connections: {
    name: 'twampy_control_connections',
    kind: 'counter',
    unit: '{connection}',
    labels: [LABEL.source, LABEL.outcome],
    help: 'TWAMP-Control connections, accepted (greeted with our modes) or refused (greeted with Modes 0)',
    role: 'control',
  },
  sessions: {
    name: 'twampy_control_sessions',
    kind: 'counter',
    unit: '{session}',
    labels: [LABEL.source, LABEL.outcome],
    help: 'TWAMP test sessions by outcome: accepted, rejected, completed, timed_out, aborted',
    role: 'control',
  },
  rejected: {
    name: 'twampy_control_rejected',
    kind: 'counter',
    unit: '{request}',
    labels: [LABEL.source, LABEL.reason],
    help: 'Refused connections, set-ups and requests, and dropped control connections, by reason',
    role: 'control',
  },
  activeConnections: {
    name: 'twampy_control_active_connections',
    kind: 'gauge',
    unit: '{connection}',
    labels: [LABEL.source],
    help: 'TWAMP-Control connections currently open',
    role: 'control',
  },
  activeSessions: {
    name: 'twampy_control_active_sessions',
    kind: 'gauge',
    unit: '{session}',
    labels: [LABEL.source],
    help: 'Negotiated test sessions currently held',
    role: 'control',
  },
} as const satisfies Record<string, MetricSpec>;

/** Node process series, named as Prometheus client libraries name them. */
export const PROCESS_METRICS = {
  cpuUser: {
    name: 'process_cpu_user_seconds',
    kind: 'observable_counter',
    unit: 's',
    labels: [],
    help: 'User CPU time spent in seconds',
    role: 'process',
  },
  cpuSystem: {
    name: 'process_cpu_system_seconds',
    kind: 'observable_counter',
    unit: 's',
    labels: [],
    help: 'System CPU time spent in seconds',
    role: 'process',
  },
  cpu: {
    name: 'process_cpu_seconds',
    kind: 'observable_counter',
    unit: 's',
    labels: [],
    help: 'Total user and system CPU time spent in seconds',
    role: 'process',
  },
  rss: {
    name: 'process_resident_memory_bytes',
    kind: 'observable_gauge',
    unit: 'By',
    labels: [],
    help: 'Resident memory size in bytes',
    role: 'process',
  },
  startTime: {
    name: 'process_start_time_seconds',
    kind: 'observable_gauge',
    unit: 's',
    labels: [],
    help: 'Start time of the process since the Unix epoch in seconds',
    role: 'process',
  },
  openFds: {
    name: 'process_open_fds',
    kind: 'observable_gauge',
    unit: '{file}',
    labels: [],
    help: 'Number of open file descriptors (Linux only)',
    role: 'process',
  },
  maxFds: {
    name: 'process_max_fds',
    kind: 'observable_gauge',
    unit: '{file}',
    labels: [],
    help: 'Maximum number of open file descriptors (Linux only)',
    role: 'process',
  },
  heapUsed: {
    name: 'nodejs_heap_size_used_bytes',
    kind: 'observable_gauge',
    unit: 'By',
    labels: [],
    help: 'V8 heap used in bytes',
    role: 'process',
  },
  heapTotal: {
    name: 'nodejs_heap_size_total_bytes',
    kind: 'observable_gauge',
    unit: 'By',
    labels: [],
    help: 'V8 heap allocated in bytes',
    role: 'process',
  },
  external: {
    name: 'nodejs_external_memory_bytes',
    kind: 'observable_gauge',
    unit: 'By',
    labels: [],
    help: 'Memory of C++ objects bound to JavaScript objects (buffers) in bytes',
    role: 'process',
  },
  loopP50: {
    name: 'nodejs_eventloop_delay_p50_seconds',
    kind: 'observable_gauge',
    unit: 's',
    labels: [],
    help: 'Event-loop delay median over the last window (10 s) in seconds',
    role: 'process',
  },
  loopP99: {
    name: 'nodejs_eventloop_delay_p99_seconds',
    kind: 'observable_gauge',
    unit: 's',
    labels: [],
    help: 'Event-loop delay 99th percentile over the last window (10 s) in seconds',
    role: 'process',
  },
  loopMax: {
    name: 'nodejs_eventloop_delay_max_seconds',
    kind: 'observable_gauge',
    unit: 's',
    labels: [],
    help: 'Event-loop delay maximum over the last window (10 s) in seconds',
    role: 'process',
  },
} as const satisfies Record<string, MetricSpec>;

/** The exporter's own health. */
export const EXPORTER_METRICS = {
  otlpExports: {
    name: 'twampy_otlp_exports',
    kind: 'counter',
    unit: '{export}',
    labels: [LABEL.source],
    help: 'OTLP export attempts (one per push interval)',
    role: 'exporter',
    optIn: '--otlp',
  },
  otlpFailures: {
    name: 'twampy_otlp_export_failures',
    kind: 'counter',
    unit: '{export}',
    labels: [LABEL.source],
    help: 'OTLP exports that failed or timed out (the batch is dropped, never queued)',
    role: 'exporter',
    optIn: '--otlp',
  },
} as const satisfies Record<string, MetricSpec>;

/** Every metric, in documentation order. */
export const ALL_METRICS: readonly MetricSpec[] = [
  ...Object.values(SENDER_METRICS),
  ...Object.values(RESPONDER_METRICS),
  ...Object.values(CONTROL_METRICS),
  ...Object.values(EXPORTER_METRICS),
  ...Object.values(PROCESS_METRICS),
];

/** The name a series carries in the Prometheus exposition (counters get `_total`). */
export function exposedName(spec: MetricSpec): string {
  return spec.kind === 'counter' || spec.kind === 'observable_counter' ? `${spec.name}_total` : spec.name;
}

/** The Prometheus TYPE of a catalogue entry. */
export function exposedType(spec: MetricSpec): 'counter' | 'gauge' | 'histogram' {
  if (spec.kind === 'counter' || spec.kind === 'observable_counter') return 'counter';
  return spec.kind === 'histogram' ? 'histogram' : 'gauge';
}
