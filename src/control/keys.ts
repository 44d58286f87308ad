/**
 * Shared secrets for authenticated and encrypted modes, keyed by KeyID. The file format is
 * perfSONAR's pfstore format (`twamp-server.pfs`), so one file serves twampd and twampy:
 *
 *   # comment
 *   KEYID  HEX-ENCODED-PASSPHRASE
 *
 * KeyIDs are at most 80 octets of UTF-8 (the Set-Up-Response field) and contain no whitespace.
 */
import { readFileSync } from 'node:fs';

/** Parses key-file text; throws with the line number on malformed lines. */
export function parseKeyFile(text: string, source = 'key file'): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const parts = line.split(/\s+/);
    if (parts.length !== 2) throw new Error(`${source}:${i + 1}: expected "KEYID HEXSECRET"`);
    const [id, hexSecret] = parts as [string, string];
    if (Buffer.byteLength(id, 'utf8') > 80) throw new Error(`${source}:${i + 1}: KeyID longer than 80 octets`);
    if (!/^([0-9a-fA-F]{2})+$/.test(hexSecret)) throw new Error(`${source}:${i + 1}: secret must be hex-encoded`);
    keys.set(id, Buffer.from(hexSecret, 'hex'));
  });
  return keys;
}

/** Reads and parses a key file. */
export function loadKeyFile(path: string): Map<string, Buffer> {
  return parseKeyFile(readFileSync(path, 'utf8'), path);
}
