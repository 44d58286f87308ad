/**
 * Every default in one place. The CLI, the README and `--help` take their values from here.
 */

/** nokia/twampy's responder port, which existing compose files and charts use. RFC 8545 assigns 862. */
export const DEFAULT_TEST_PORT = 20001;
/** IANA port of TWAMP-Control and STAMP (RFC 8545, RFC 8762). */
export const WELL_KNOWN_PORT = 862;

export const DEFAULTS = {
  // sender
  count: 100,
  intervalMs: 100,
  /** 27 octets of padding make the request 41 octets, the size of the reply (RFC 6038). */
  padding: 27,
  timeoutMs: 2000,
  periodS: 10,
  /** RFC 5357 section 4.1.2: senders SHOULD send with TTL 255 so that the reflector's Sender TTL counts hops. */
  ttl: 255,
  ssid: 0,
  resolveIntervalS: 60,
  discoverIntervalS: 30,
  /** Assumed clock error when the clock is synchronised and the user gave no figure (typical NTP on a LAN). */
  syncedClockErrorS: 0.001,
  // responder
  listen: `[::]:${DEFAULT_TEST_PORT}`,
  refwaitS: 900,
  maxSessions: 10_000,
  rateLimitPps: 10_000,
  /** Largest request reflected: a jumbo frame's UDP payload. */
  maxRequestBytes: 9_000,
} as const;

/** IMIX padding profile: 7:4:1 of IPv4 packets of 64, 576 and 1500 octets (UDP payload minus the 14-octet header). */
export const IMIX_PADDING: readonly number[] = [
  ...Array(7).fill(64 - 28 - 14),
  ...Array(4).fill(576 - 28 - 14),
  1500 - 28 - 14,
];
