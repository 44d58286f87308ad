/**
 * CIDR allow-lists for `--allow`. IPv4 and IPv6; an IPv4-mapped IPv6 source matches IPv4 rules.
 */
import { BlockList, isIP } from 'node:net';

/** A parsed set of CIDR prefixes. */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(readonly cidrs: readonly string[]) {
    for (const c of cidrs) {
      const [addr, bitsText] = c.split('/');
      const type = isIP(addr ?? '');
      if (!addr || type === 0) throw new RangeError(`invalid --allow "${c}": not an IP address or CIDR prefix`);
      const max = type === 4 ? 32 : 128;
      const bits = bitsText === undefined ? max : Number(bitsText);
      if (!Number.isInteger(bits) || bits < 0 || bits > max || (bitsText !== undefined && !/^\d+$/.test(bitsText))) {
        throw new RangeError(`invalid --allow "${c}": prefix length must be 0-${max}`);
      }
      this.list.addSubnet(addr, bits, type === 4 ? 'ipv4' : 'ipv6');
    }
    this.size = cidrs.length;
  }

  /** Whether `address` (normalised, no IPv4-mapped prefix) is inside one of the prefixes. */
  has(address: string): boolean {
    const type = isIP(address);
    if (type === 0) return false;
    return this.list.check(address, type === 4 ? 'ipv4' : 'ipv6');
  }
}
