/**
 * The Prometheus text exposition format 0.0.4, written straight from the series store.
 *
 * It produces exactly what `@opentelemetry/exporter-prometheus`'s PrometheusSerializer produces
 * with `withoutScopeInfo` (a test holds the two to byte equality): `target_info` from the
 * resource, then per metric HELP, UNIT and TYPE lines and its samples, counters with `_total`,
 * histograms as `_count`, `_sum` and cumulative `_bucket{le}` lines.
 *
 * Why not call that serializer: with 1,000 targets the exposition has ~48,000 lines, and the
 * serializer re-escapes every label of every line on every scrape (hundreds of milliseconds).
 * Here each series' line prefixes (name and labels, and every bucket line's) are encoded once,
 * when the series is created, into a `TextArena`, and a scrape copies them and formats the values.
 */
import type { Attributes } from '@opentelemetry/api';
import type { GzipSegment } from './segmented-gzip.js';

/** Histogram buckets as the SDK holds them: `counts` has one more entry than `boundaries` (+Inf). */
export interface TextHistogram {
  buckets: { boundaries: readonly number[]; counts: readonly number[] };
  count: number;
  sum?: number;
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function escapeLabelValue(v: unknown): string {
  const s = typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/** Prometheus-safe name: characters outside [a-zA-Z0-9_] become '_' (runs collapsed). */
export function sanitizeName(name: string): string {
  return name.replace(/[^a-z0-9_]/gi, '_').replace(/_{2,}/g, '_');
}

/** Label text (`k="v",k2="v2"`) of an attribute set, in the set's key order. */
export function formatLabels(attributes: Attributes): string {
  let out = '';
  for (const key of Object.keys(attributes)) {
    if (out !== '') out += ',';
    out += `${sanitizeName(key)}="${escapeLabelValue(attributes[key])}"`;
  }
  return out;
}

/** The exposed name of a metric (counters get `_total`). */
export function exposedMetricName(name: string, type: TextFamily['type']): string {
  return type === 'counter' && !name.endsWith('_total') ? `${name}_total` : name;
}

/** The line prefixes of one series in exposition order: one for a counter or gauge, `_count`, `_sum` and one per bucket for a histogram. */
export function seriesPrefixes(exposedName: string, labels: string, boundaries?: readonly number[]): string[] {
  const braced = labels === '' ? '' : `{${labels}}`;
  if (!boundaries) return [`${exposedName}${braced} `];
  const sep = labels === '' ? '' : ',';
  const buckets = [...boundaries.map((b) => String(b)), '+Inf'].map((le) => `${exposedName}_bucket{${labels}${sep}le="${le}"} `);
  return [`${exposedName}_count${braced} `, `${exposedName}_sum${braced} `, ...buckets];
}

/**
 * Where a series' line prefixes are in a `TextArena`: they follow each other from `textStart`,
 * with the byte lengths `textLens` (arrays of equal lengths are shared between series).
 */
export interface SeriesText {
  textStart: number;
  textLens: readonly number[];
}

/**
 * The encoded line prefixes of every series, in one Buffer, and the scratch space after them
 * where an exposition is written.
 *
 * Why one Buffer: a Buffer per prefix made ~48,000 small objects at 1,000 targets, which V8's
 * collector had to trace on every major collection for as long as the process ran; and copying
 * a prefix with `copyWithin` inside one Buffer was the fastest copy measured here (about 2 ms for
 * 48,000 lines, against 2.5 ms from separate Buffers and 7-8 ms for sub-ranges of another Buffer,
 * which allocate a view per copy).
 *
 * Why the exposition is lent rather than copied out: a fresh 4 MB Buffer per scrape counts
 * against V8's old-generation limit as external memory, and at 1,000 targets it made a full
 * mark-compact of the whole heap follow every scrape. The body handed out is a view of the
 * scratch space until `release`; a Buffer whose scratch is lent is never written there again
 * (the next exposition moves the prefixes to a new Buffer first, which only happens when scrapes
 * overlap), and prefixes added meanwhile go below `prefixCapacity`, never into the scratch.
 */
export class TextArena {
  /** Prefixes in [0, used), scratch from `prefixCapacity`. */
  buf: Buffer;
  used = 0;
  prefixCapacity: number;
  /** Bytes of prefixes whose series are gone. */
  private garbage = 0;
  private readonly lens = new Map<string, readonly number[]>();
  /** The Buffer whose scratch holds an exposition not yet released, if any. */
  private lent: Buffer | null = null;

  constructor(initialPrefixBytes = 64 * 1024) {
    this.prefixCapacity = initialPrefixBytes;
    this.buf = Buffer.allocUnsafe(initialPrefixBytes);
  }

  /** Stores the prefixes of one series. */
  add(prefixes: readonly string[]): SeriesText {
    const lens = prefixes.map((p) => Buffer.byteLength(p));
    let total = 0;
    for (const n of lens) total += n;
    if (this.used + total > this.prefixCapacity) this.reallocate(Math.max(this.prefixCapacity * 2, this.used + total), 0);
    const textStart = this.used;
    for (const p of prefixes) this.used += this.buf.write(p, this.used, 'utf8');
    // Series of one metric with labels of equal length share one lengths array.
    const key = lens.join(',');
    let shared = this.lens.get(key);
    if (!shared) this.lens.set(key, (shared = Object.freeze(lens)));
    return { textStart, textLens: shared };
  }

  /** The series of `text` is gone; its bytes are reclaimed by the next `compact`. */
  release(text: SeriesText): void {
    for (const n of text.textLens) this.garbage += n;
  }

  /** Whether enough is garbage for a compaction to pay: over half, and over 256 KiB. */
  get wantsCompaction(): boolean {
    return this.garbage > 256 * 1024 && this.garbage * 2 > this.used;
  }

  /** Moves the prefixes of `live` (every series still present) together into a new Buffer; updates their `textStart`. */
  compact(live: Iterable<SeriesText>): void {
    const next = Buffer.allocUnsafe(this.buf.length);
    let used = 0;
    for (const t of live) {
      let n = 0;
      for (const l of t.textLens) n += l;
      this.buf.copy(next, used, t.textStart, t.textStart + n);
      t.textStart = used;
      used += n;
    }
    this.buf = next;
    this.used = used;
    this.garbage = 0;
  }

  /**
   * A new Buffer with room for `prefixCapacity` bytes of prefixes and `scratchBytes` after them;
   * the prefixes and the first `keepScratch` bytes of scratch come along. The old Buffer is left
   * as it is, so that a lent exposition in it stays intact.
   */
  reallocate(prefixCapacity: number, scratchBytes: number, keepScratch = 0): void {
    const next = Buffer.allocUnsafe(prefixCapacity + Math.max(scratchBytes, this.buf.length - this.prefixCapacity));
    this.buf.copy(next, 0, 0, this.used);
    if (keepScratch > 0) this.buf.copy(next, prefixCapacity, this.prefixCapacity, this.prefixCapacity + keepScratch);
    this.buf = next;
    this.prefixCapacity = prefixCapacity;
  }

  /** Starts an exposition: scratch space that is not lent. */
  beginScratch(): void {
    if (this.lent === this.buf) this.reallocate(this.prefixCapacity, 0);
  }

  /** Lends `body` (a view of this.buf's scratch) until the returned function is called. */
  lend(body: Buffer): () => void {
    const buf = this.buf;
    this.lent = buf;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (this.lent === buf) this.lent = null;
    };
  }
}

/**
 * Where a store-kept histogram series keeps its numbers in its family's cells, from its offset:
 * count, sum, min, max (NaN while unset), then one count per bucket (+Inf last, not cumulative).
 */
export const HISTOGRAM_CELLS = { count: 0, sum: 1, min: 2, max: 3, buckets: 4 } as const;

/** A series ready to write: where its prefixes are, and its current value (or where it is in the family's cells). */
export interface TextSeries extends SeriesText {
  /** Unused (null) when the family has cells. */
  value: number | TextHistogram | null;
  /** Offset of the series' numbers in the family's `cells`, when the family has cells. */
  off: number;
}

/** One metric family as the fast writer takes it. */
export interface TextFamily {
  exposedName: string;
  help: string;
  unit: string;
  type: 'counter' | 'gauge' | 'histogram';
  series: Iterable<TextSeries>;
  /** The numbers of every series (store-kept metrics): one cell per counter or gauge, HISTOGRAM_CELLS per histogram. */
  cells: Float64Array | null;
  /**
   * Store-kept metrics: a number that changes whenever a series is added or removed. With
   * `cells`, it tells whether the family's text can have changed.
   */
  version?: number;
}

/**
 * A family whose text is shorter stays in the segment of the text around it: a raw DEFLATE
 * stream of its own costs about 0.15-0.3 ms to set up and hand to the threadpool, more than a
 * short text takes to compress. Counted in bytes, so that a small fleet's page is a few segments,
 * not one per family. Small pages still pay for the segments when every target changed: in-process
 * a 50-target page (217 KB, 3 segments) took 1.4-1.9 ms of CPU against 0.9-1.1 ms in one stream,
 * 150 targets 2.5-2.9 against 2.1 ms; at 1,000 targets the segments are cheaper (5.5-6.3 against
 * 7.4-9.1 ms), and an unchanged family costs nothing anywhere.
 */
export const MIN_SEGMENT_BYTES = 64 * 1024;

/**
 * What the writer remembers of the store-kept families between expositions, to tell which
 * families' text is unchanged: a copy of the numbers it last wrote (one per cell, in a shadow
 * array as long as the cells) and the family's series version.
 */
export class FamilyTracker {
  private seq = 0;
  private readonly shadows = new WeakMap<Float64Array, Float64Array>();
  private readonly families = new Map<string, { version: number; shadow: Float64Array; written: number }>();

  /** Number of the next exposition. */
  next(): number {
    return ++this.seq;
  }

  /** The shadow of `cells` (a new one, all zeros, when the cells array is new or has grown). */
  shadowFor(cells: Float64Array): Float64Array {
    let shadow = this.shadows.get(cells);
    if (!shadow) this.shadows.set(cells, (shadow = new Float64Array(cells.length)));
    return shadow;
  }

  /** Number of the exposition since which a family's text is what was written now. */
  written(name: string, version: number, shadow: Float64Array, changed: boolean, seq: number): number {
    const state = this.families.get(name);
    if (state && !changed && state.version === version && state.shadow === shadow) return state.written;
    this.families.set(name, { version, shadow, written: seq });
    return seq;
  }
}

/** The `target_info` block of a resource. */
export function targetInfo(resource: Attributes): string {
  const labels = formatLabels(resource);
  return `# HELP target_info Target metadata\n# TYPE target_info gauge\ntarget_info${labels === '' ? '' : `{${labels}}`} 1\n`;
}

const NEWLINE = 0x0a;

/** What a writer holds between expositions. */
const NO_BUFFER = Buffer.alloc(0);

/** Room for any number's text and the newline (the longest JavaScript number text is 24 chars). */
const VALUE_ROOM = 26;

/**
 * Writes an exposition into the arena's scratch space: prefixes are copied within that Buffer,
 * int32 values written digit by digit, other numbers as their ASCII text. Nothing is allocated for
 * the garbage collector but the text of non-integer values.
 *
 * One writer per arena, kept for the arena's life and restarted by `begin` (see `writerOf`).
 */
class ExpositionWriter {
  private pos = 0;
  /** The arena's Buffer, held here (refreshed when it grows) to save a load per write. */
  private buf: Buffer = NO_BUFFER;

  constructor(private readonly arena: TextArena) {}

  /** Starts an exposition in the arena's scratch space (not lent) with room for about `sizeHint` bytes. */
  begin(sizeHint: number): void {
    const arena = this.arena;
    arena.beginScratch();
    this.pos = arena.prefixCapacity;
    // Without a previous size, the prefixes plus a quarter for the values is close (lines are
    // ~90 bytes of prefix and ~5 of value), so that the first exposition does not grow step by step.
    const want = sizeHint > 0 ? sizeHint : Math.ceil(arena.used * 1.25) + 4096;
    if (arena.buf.length - this.pos < want) arena.reallocate(arena.prefixCapacity, want);
    this.buf = arena.buf;
  }

  /** Makes room for `n` more bytes. */
  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const written = this.pos - this.arena.prefixCapacity;
    this.arena.reallocate(this.arena.prefixCapacity, Math.max(2 * written, written + n), written);
    this.buf = this.arena.buf;
  }

  /** One sample line: the stored prefix at `start` (`len` bytes), the value and the newline. */
  line(start: number, len: number, v: number): void {
    this.reserve(len + VALUE_ROOM);
    const b = this.buf;
    b.copyWithin(this.pos, start, start + len);
    let p = this.pos + len;
    if (v >= 0 && v <= 0x7fffffff && (v | 0) === v) {
      // Counts and most gauges: int32 arithmetic, no float division.
      const digits = v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10000 ? 4 : v < 100000 ? 5 : v < 1000000 ? 6 : v < 10000000 ? 7 : v < 100000000 ? 8 : v < 1000000000 ? 9 : 10;
      const end = p + digits;
      p = end;
      let x = v;
      do {
        const q = (x / 10) | 0;
        b[--p] = 0x30 + x - q * 10;
        x = q;
      } while (x > 0);
      b[end] = NEWLINE;
      this.pos = end + 1;
      return;
    }
    this.pos = writeNumberText(b, p, v);
  }

  /** Any string (HELP text, target_info): UTF-8. */
  text(s: string): void {
    this.reserve(Buffer.byteLength(s));
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Bytes written so far. */
  get offset(): number {
    return this.pos - this.arena.prefixCapacity;
  }

  /** The exposition, a view of the scratch space, lent until `release` is called. */
  done(): { body: Buffer; release: () => void } {
    const body = this.buf.subarray(this.arena.prefixCapacity, this.pos);
    // Between expositions the writer holds no Buffer: one the arena replaces can be freed.
    this.buf = NO_BUFFER;
    return { body, release: this.arena.lend(body) };
  }
}

/**
 * Each arena's writer, made once. Why not a writer per exposition: V8's optimised code for the
 * writer's methods checks the object's hidden class, and a class whose fields are added by its
 * constructor gets that hidden class by transitions, which V8 holds weakly. With no writer alive
 * between scrapes, a full collection could free the hidden class and throw away the scrape path's
 * optimised code ("weak objects" in --trace-deopt), so the next scrape ran unoptimised while V8
 * compiled it again: in-process, 48-56 ms of CPU at 1,000 targets after three forced full
 * collections, against 12-15 ms for scrapes back to back. A live sender meets it rarely (V8 keeps
 * an unused hidden class through two more ordinary full collections; see docs/metrics.md).
 */
const writers = new WeakMap<TextArena, ExpositionWriter>();

function writerOf(arena: TextArena): ExpositionWriter {
  let w = writers.get(arena);
  if (!w) writers.set(arena, (w = new ExpositionWriter(arena)));
  return w;
}

/** Scale of the fixed-point path: six decimals, whole nanoseconds of a value in milliseconds. */
const FIXED_SCALE = 1e6;

/**
 * Writes a number that is not an int32 as its JavaScript text (what the SDK's serializer writes,
 * larger integers included) and the newline at `p`; returns the end. Kept out of `line` so that
 * the int32 path stays small.
 *
 * A value that is exactly m / 10^6 for an integer m below 10^15 (every delay figure in ms: they are
 * rounded to whole ns) is written from m's digits, without String(): its JavaScript text is that
 * decimal, trailing zeros dropped, because a decimal of at most 15 significant digits is the only
 * one of that length or shorter that reads back as its nearest double (DBL_DIG), and from 10^-6
 * up to 10^21 JavaScript writes it in fixed notation. A property test holds this to String().
 * String() made about a third of an exposition's time at 1,000 targets.
 */
function writeNumberText(b: Buffer, p: number, v: number): number {
  const a = v < 0 ? -v : v;
  if (a >= 1e-6 && a < 1e9) {
    const m = Math.round(a * FIXED_SCALE);
    if (m / FIXED_SCALE === a) {
      if (v < 0) b[p++] = 0x2d; // '-'
      // m < 10^15: the integer part (< 10^9) and the fraction (< 10^6) are int32s.
      let int = Math.floor(m / FIXED_SCALE);
      let frac = m - int * FIXED_SCALE;
      const digits = int < 10 ? 1 : int < 100 ? 2 : int < 1000 ? 3 : int < 10000 ? 4 : int < 100000 ? 5 : int < 1000000 ? 6 : int < 10000000 ? 7 : int < 100000000 ? 8 : 9;
      p += digits;
      for (let i = p - 1; i >= p - digits; i--) {
        const q = (int / 10) | 0;
        b[i] = 0x30 + int - q * 10;
        int = q;
      }
      if (frac > 0) {
        b[p++] = 0x2e; // '.'
        let places = 6;
        while (frac % 10 === 0) {
          frac /= 10;
          places--;
        }
        for (let i = places - 1; i >= 0; i--) {
          const q = (frac / 10) | 0;
          b[p + i] = 0x30 + frac - q * 10;
          frac = q;
        }
        p += places;
      }
      b[p++] = NEWLINE;
      return p;
    }
  }
  const s = v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
  for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
  b[p++] = NEWLINE;
  return p;
}

/** HELP, UNIT and TYPE lines of a family. */
function familyHeader(f: TextFamily): string {
  const unit = f.unit ? `# UNIT ${f.exposedName} ${escapeHelp(f.unit)}\n` : '';
  return `# HELP ${f.exposedName} ${escapeHelp(f.help || 'description missing')}\n${unit}# TYPE ${f.exposedName} ${f.type}\n`;
}

// One loop per kind of family, each seeing one shape of data, so that V8's type feedback for a
// loop is complete after the first family of its kind: a single loop over every kind was
// optimised during the first family and deoptimised at the first line of another kind, again in
// later scrapes (--trace-deopt). In-process at 1,000 targets, 15.0 ms per exposition against 15.9
// ms for the single loop (three alternations); in a live sender the first few expositions cost
// 40-160 ms of CPU either way while V8 compiles, about 15 ms from then on.

/** What a family writer returns: whether it wrote a series, and whether a number differed from its shadow. */
const WROTE = 1;
const CHANGED = 2;

/**
 * A counter or gauge family kept in cells; each number is compared with, and copied to, its
 * shadow. Returns WROTE and CHANGED flags.
 */
function writeScalarCells(w: ExpositionWriter, f: TextFamily, cells: Float64Array, shadow: Float64Array): number {
  let flags = 0;
  for (const s of f.series) {
    if (flags === 0) {
      flags = WROTE;
      w.text(familyHeader(f));
    }
    const off = s.off;
    const v = cells[off]!;
    if (v !== shadow[off]) {
      shadow[off] = v;
      flags |= CHANGED;
    }
    w.line(s.textStart, s.textLens[0]!, v);
  }
  return flags;
}

/**
 * The lines of one histogram series whose numbers are at `off` in `cells` (HISTOGRAM_CELLS
 * layout): _count, _sum (none when NaN: an SDK point without a sum), then the cumulative buckets.
 */
function histogramLines(w: ExpositionWriter, s: TextSeries, cells: Float64Array, off: number): void {
  const lens = s.textLens;
  let at = s.textStart;
  w.line(at, lens[0]!, cells[off + HISTOGRAM_CELLS.count]!);
  at += lens[0]!;
  const sum = cells[off + HISTOGRAM_CELLS.sum]!;
  if (sum === sum) w.line(at, lens[1]!, sum);
  at += lens[1]!;
  let cumulative = 0;
  for (let i = 2; i < lens.length; i++) {
    cumulative += cells[off + HISTOGRAM_CELLS.buckets + i - 2]!;
    w.line(at, lens[i]!, cumulative);
    at += lens[i]!;
  }
}

/**
 * A histogram family kept in cells; the numbers its lines show (count, sum, buckets) are compared
 * with, and copied to, their shadow. Returns WROTE and CHANGED flags.
 */
function writeHistogramCells(w: ExpositionWriter, f: TextFamily, cells: Float64Array, shadow: Float64Array): number {
  let flags = 0;
  for (const s of f.series) {
    if (flags === 0) {
      flags = WROTE;
      w.text(familyHeader(f));
    }
    const off = s.off;
    // count and sum, then one cell per bucket line (+Inf included): the text's numbers.
    const end = off + HISTOGRAM_CELLS.buckets + s.textLens.length - 2;
    for (let i = off; i < end; i++) {
      if (i === off + HISTOGRAM_CELLS.min) i = off + HISTOGRAM_CELLS.buckets;
      const v = cells[i]!;
      if (v !== shadow[i]) {
        shadow[i] = v;
        flags |= CHANGED;
      }
    }
    histogramLines(w, s, cells, off);
  }
  return flags;
}

/**
 * A family of SDK points (rare events, responder and control series, process metrics). An SDK
 * histogram point is copied into the cells layout first, so that one function writes every
 * histogram series and sees one kind of array.
 */
function writeSdkPoints(w: ExpositionWriter, f: TextFamily): boolean {
  let any = false;
  let scratch = new Float64Array(0);
  for (const s of f.series) {
    if (!any) {
      any = true;
      w.text(familyHeader(f));
    }
    if (f.type !== 'histogram') {
      w.line(s.textStart, s.textLens[0]!, s.value as number);
      continue;
    }
    const h = s.value as TextHistogram;
    const counts = h.buckets.counts;
    if (scratch.length < HISTOGRAM_CELLS.buckets + counts.length) scratch = new Float64Array(HISTOGRAM_CELLS.buckets + counts.length);
    scratch[HISTOGRAM_CELLS.count] = h.count;
    scratch[HISTOGRAM_CELLS.sum] = h.sum ?? NaN;
    for (let i = 0; i < counts.length; i++) scratch[HISTOGRAM_CELLS.buckets + i] = counts[i]!;
    histogramLines(w, s, scratch, 0);
  }
  return any;
}

/** An exposition: the body (lent until `release`) and its segments for `SegmentedGzip`. */
export interface WrittenExposition {
  body: Buffer;
  release: () => void;
  /** The body cut into byte ranges: each large store-kept family alone, the rest between them. */
  segments: GzipSegment[];
}

/**
 * Writes the exposition from families whose series' prefixes are in `arena` (the scrape path).
 * `sizeHint`: the previous exposition's size (0: estimated from the prefixes), so that the
 * buffer grows at most once. `tracker` remembers the families between expositions, so that each
 * segment says since which exposition its text is unchanged. The body is a view of the arena's
 * scratch space: call `release` once it has been sent or compressed.
 */
export function writeFamilies(arena: TextArena, targetInfoText: string, families: Iterable<TextFamily>, sizeHint = 0, tracker = new FamilyTracker()): WrittenExposition {
  const w = writerOf(arena);
  w.begin(sizeHint > 0 ? sizeHint + 1024 : 0);
  const seq = tracker.next();
  const segments: GzipSegment[] = [];
  w.text(targetInfoText);
  let runStart = 0;
  let any = false;
  for (const f of families) {
    const cells = f.cells;
    if (cells === null) {
      any = writeSdkPoints(w, f) || any;
      continue;
    }
    const start = w.offset;
    const shadow = tracker.shadowFor(cells);
    const flags = f.type === 'histogram' ? writeHistogramCells(w, f, cells, shadow) : writeScalarCells(w, f, cells, shadow);
    any ||= flags !== 0;
    const written = tracker.written(f.exposedName, f.version ?? -1, shadow, (flags & CHANGED) !== 0, seq);
    if (f.version === undefined || w.offset - start < MIN_SEGMENT_BYTES) continue;
    if (start > runStart) segments.push({ key: null, start: runStart, end: start, written: seq });
    runStart = w.offset;
    segments.push({ key: f.exposedName, start, end: runStart, written });
  }
  if (!any) w.text('# no registered metrics');
  if (w.offset > runStart) segments.push({ key: null, start: runStart, end: w.offset, written: seq });
  return { ...w.done(), segments };
}
