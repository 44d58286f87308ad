/**
 * What became of a target's recently sent test packets (replied or lost), so that a reply to an
 * already resolved packet can be classified as a duplicate or as late (RFC 5357 section 4.1 and
 * RFC 8762 leave this to the Session-Sender).
 *
 * Two bits per packet in a ring indexed by sequence number: a target's memory is at most
 * `limit / 4` bytes (16 KiB for 65,536 packets) in one typed array, where a Map of the same
 * packets held about 3.5 MiB of JS heap per target, growing by one entry per packet until full.
 * The ring starts small and doubles as packets are sent, so a short run stays small.
 */

/** The settled fate of a sent packet. */
export type PacketFate = 'replied' | 'lost';

const UNRESOLVED = 0;
const REPLIED = 1;
const LOST = 2;
const FATES_PER_BYTE = 4;
const BITS_PER_FATE = 2;
const FATE_MASK = 0b11;
/** Packets the ring holds before its first doubling (64 bytes). */
const INITIAL_CAPACITY = 256;

/** The fate in `ring` of packet `seq`, whose slot is `seq & mask`. */
function fateAt(ring: Uint8Array, mask: number, seq: number): number {
  const i = seq & mask;
  return (ring[i >>> 2]! >>> ((i & 3) * BITS_PER_FATE)) & FATE_MASK;
}

/** Fates of the last `limit` packets sent, by 32-bit sequence number. */
export class FateHistory {
  private capacity: number;
  private ring: Uint8Array;
  /** Sequence number of the newest packet sent (meaningless while `sentCount` is 0). */
  private newest = 0;
  /** Packets sent since the start (a Number: exact far beyond any run's length). */
  private sentCount = 0;

  /**
   * @param limit packets remembered at most, a power of two (a divisor of 2^32, so wrapping is seamless)
   * @param initialCapacity packets held before the first doubling, a power of two
   */
  constructor(
    readonly limit: number,
    initialCapacity = INITIAL_CAPACITY,
  ) {
    for (const [what, n] of [['limit', limit], ['initial capacity', initialCapacity]] as const) {
      if (!Number.isInteger(n) || n < FATES_PER_BYTE || n > 2 ** 31 || (n & (n - 1)) !== 0) {
        throw new RangeError(`fate history ${what} must be a power of two from 4 to 2^31, got ${n}`);
      }
    }
    this.capacity = Math.min(limit, initialCapacity);
    this.ring = new Uint8Array(this.capacity / FATES_PER_BYTE);
  }

  /** Records that packet `seq` was just sent (the next in sequence): its fate is not known yet. */
  sent(seq: number): void {
    if (this.sentCount >= this.capacity && this.capacity < this.limit) this.grow();
    this.newest = seq >>> 0;
    this.sentCount++;
    this.write(this.newest, UNRESOLVED);
  }

  /** Records the fate of packet `seq`; a packet outside the remembered window is ignored. */
  settle(seq: number, fate: PacketFate): void {
    if (this.holds(seq)) this.write(seq >>> 0, fate === 'replied' ? REPLIED : LOST);
  }

  /** The fate of packet `seq`, or undefined when it is unresolved, never sent or too old. */
  get(seq: number): PacketFate | undefined {
    if (!this.holds(seq)) return undefined;
    const v = fateAt(this.ring, this.capacity - 1, seq >>> 0);
    return v === REPLIED ? 'replied' : v === LOST ? 'lost' : undefined;
  }

  /** Bytes the ring takes now (tests, sizing). */
  get byteLength(): number {
    return this.ring.byteLength;
  }

  /** Whether `seq` is one of the last `capacity` packets sent. */
  private holds(seq: number): boolean {
    const age = (this.newest - (seq >>> 0)) >>> 0;
    return age < this.sentCount && age < this.capacity;
  }

  private write(seq: number, v: number): void {
    const i = seq & (this.capacity - 1);
    const shift = (i & 3) * BITS_PER_FATE;
    const byte = i >>> 2;
    this.ring[byte] = (this.ring[byte]! & ~(FATE_MASK << shift)) | (v << shift);
  }

  /** Doubles the ring, moving every remembered fate from its slot in the old ring to the new one. */
  private grow(): void {
    const old = this.ring;
    const oldMask = this.capacity - 1;
    const held = Math.min(this.sentCount, this.capacity);
    this.capacity *= 2;
    this.ring = new Uint8Array(this.capacity / FATES_PER_BYTE);
    for (let age = 0; age < held; age++) {
      const seq = (this.newest - age) >>> 0;
      this.write(seq, fateAt(old, oldMask, seq));
    }
  }
}
