/**
 * DSCP names and values: RFC 2474 (class selectors), RFC 2597 (AF), RFC 3246 (EF), RFC 5865
 * (VOICE-ADMIT), RFC 8622 (LE). The TOS byte carries DSCP in its upper six bits: TOS = DSCP << 2
 * (so EF = 46 = TOS 0xB8), ECN in the lower two.
 */

/** DSCP code points by their conventional names (lower case). */
export const DSCP_NAMES: ReadonlyMap<string, number> = new Map([
  ['be', 0], ['cs0', 0], ['le', 1],
  ['cs1', 8], ['af11', 10], ['af12', 12], ['af13', 14],
  ['cs2', 16], ['af21', 18], ['af22', 20], ['af23', 22],
  ['cs3', 24], ['af31', 26], ['af32', 28], ['af33', 30],
  ['cs4', 32], ['af41', 34], ['af42', 36], ['af43', 38],
  ['cs5', 40], ['voice-admit', 44], ['ef', 46],
  ['cs6', 48], ['cs7', 56],
]);

/** Parses a DSCP given as a name (EF, af41) or a number 0..63 (decimal or 0x hex). */
export function parseDscp(text: string): number {
  const t = text.trim().toLowerCase();
  const named = DSCP_NAMES.get(t);
  if (named !== undefined) return named;
  if (/^(0x[0-9a-f]+|\d+)$/.test(t)) {
    const v = Number(t);
    if (v >= 0 && v <= 63) return v;
  }
  throw new RangeError(
    `invalid DSCP "${text}": use a name (${[...DSCP_NAMES.keys()].join(', ')}) or a number 0-63`,
  );
}

/** Parses a TOS byte given as a number 0..255 (decimal or 0x hex). */
export function parseTos(text: string): number {
  const t = text.trim().toLowerCase();
  if (/^(0x[0-9a-f]+|\d+)$/.test(t)) {
    const v = Number(t);
    if (v >= 0 && v <= 255) return v;
  }
  throw new RangeError(`invalid TOS "${text}": use a number 0-255 (e.g. 0xb8 for EF)`);
}

/** TOS byte for a DSCP and ECN value. */
export function dscpToTos(dscp: number, ecn = 0): number {
  return ((dscp & 0x3f) << 2) | (ecn & 0x3);
}

/** DSCP part of a TOS byte. */
export function tosToDscp(tos: number): number {
  return (tos >> 2) & 0x3f;
}

/** Rows of the DSCP table: name, DSCP, TOS. */
export function dscpTable(): { name: string; dscp: number; tos: number }[] {
  return [...DSCP_NAMES.entries()].map(([name, dscp]) => ({ name, dscp, tos: dscpToTos(dscp) }));
}
