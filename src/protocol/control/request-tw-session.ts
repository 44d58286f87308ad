/**
 * Request-TW-Session, client to server, RFC 5357 section 3.5 (layout from RFC 4656 section 3.5).
 *
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |      5        |  MBZ  | IPVN  |  Conf-Sender  | Conf-Receiver |   0
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                  Number of Schedule Slots                     |   4
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Number of Packets                        |   8
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Sender Port          |         Receiver Port         |  12
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |        Sender Address (4 octets, IPv4; 16 octets, IPv6)       |  16
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |       Receiver Address (4 octets, IPv4; 16 octets, IPv6)      |  32
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                        SID (16 octets)                        |  48
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         Padding Length                        |  64
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                           Start Time                          |  68
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Timeout, (8 octets)                     |  76
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       Type-P Descriptor                       |  84
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                         MBZ (8 octets)                        |  88
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       HMAC (16 octets)                        |  96
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * TWAMP: Conf-Sender, Conf-Receiver, Number of Schedule Slots and Number of Packets are 0.
 * An all-zero address means "the address of the control connection" (RFC 5357 section 3.5).
 * Receiver Port is where the Session-Reflector should receive test packets. Timeout is a
 * duration (timestamp format without epoch) the reflector keeps going after Stop-Sessions.
 * Type-P Descriptor: first two bits 00, then the six-bit DSCP (RFC 4656 section 3.5).
 */
import {
  Command,
  REQUEST_TW_SESSION_LENGTH,
  badValue,
  bytesToIp,
  ipToBytes,
  ipVersion,
  readBytes,
  readDuration,
  requireMessage,
  target,
  writeBytes,
  writeDuration,
} from './common.js';
import { readNtp, writeNtp } from '../timestamp.js';

export const RTS_COMMAND_OFFSET = 0;
export const RTS_IPVN_OFFSET = 1;
export const RTS_CONF_SENDER_OFFSET = 2;
export const RTS_CONF_RECEIVER_OFFSET = 3;
export const RTS_SLOTS_OFFSET = 4;
export const RTS_PACKETS_OFFSET = 8;
export const RTS_SENDER_PORT_OFFSET = 12;
export const RTS_RECEIVER_PORT_OFFSET = 14;
export const RTS_SENDER_ADDRESS_OFFSET = 16;
export const RTS_RECEIVER_ADDRESS_OFFSET = 32;
export const RTS_SID_OFFSET = 48;
export const RTS_PADDING_OFFSET = 64;
export const RTS_START_TIME_OFFSET = 68;
export const RTS_TIMEOUT_OFFSET = 76;
export const RTS_TYPE_P_OFFSET = 84;
export const RTS_HMAC_OFFSET = 96;

/** A Request-TW-Session. */
export interface RequestTwSession {
  /** 4 or 6. */
  ipvn: number;
  confSender: number;
  confReceiver: number;
  scheduleSlots: number;
  packets: number;
  senderPort: number;
  receiverPort: number;
  /** Sender address; null when the field is all zero (use the control connection's). */
  senderAddress: string | null;
  receiverAddress: string | null;
  /** 16 octets; zero in a request (the server assigns the SID). */
  sid: Buffer;
  /** Padding bytes the Session-Sender appends to its test packets. */
  paddingLength: number;
  /** Requested start, ns since the Unix epoch; 0n when the field is zero. */
  startTimeNs: bigint;
  /** Timeout after Stop-Sessions, in ns. */
  timeoutNs: bigint;
  /** Raw Type-P Descriptor. */
  typeP: number;
  /** 16 octets of HMAC (zero in unauthenticated mode). */
  hmac: Buffer;
}

/** Type-P Descriptor requesting `dscp` (RFC 4656 section 3.5: two zero bits, then six DSCP bits). */
export function typePForDscp(dscp: number): number {
  if (!Number.isInteger(dscp) || dscp < 0 || dscp > 63) throw new RangeError(`DSCP out of range: ${dscp}`);
  return (dscp << 24) >>> 0;
}

/** The DSCP of a Type-P Descriptor, or null when it is not in the DSCP form. */
export function dscpOfTypeP(typeP: number): number | null {
  // Only the DSCP form (00 then six DSCP bits, nothing below) is something we can honour.
  if ((typeP & ~0x3f00_0000) !== 0) return null;
  return (typeP >>> 24) & 0x3f;
}

/** Length of a Request-TW-Session on the wire. */
export function requestTwSessionLength(): number {
  return REQUEST_TW_SESSION_LENGTH;
}

function writeAddress(out: Buffer, offset: number, address: string | null, ipvn: number, what: string): void {
  if (address === null || address === '') return;
  if (ipVersion(address) !== ipvn) throw new RangeError(`${what} ${address} is not IPv${ipvn}`);
  out.set(ipToBytes(address), offset);
}

function readAddress(buf: Buffer, offset: number, ipvn: number): string | null {
  const len = ipvn === 6 ? 16 : 4;
  const raw = buf.subarray(offset, offset + len);
  if (raw.every((b) => b === 0)) return null;
  return bytesToIp(raw, ipvn === 6 ? 6 : 4);
}

/** Encodes a Request-TW-Session into `buf` at `offset`, or a new buffer. */
export function encodeRequestTwSession(m: RequestTwSession, buf?: Buffer, offset = 0): Buffer {
  const out = target(REQUEST_TW_SESSION_LENGTH, buf, offset, 'Request-TW-Session');
  out.writeUInt8(Command.REQUEST_TW_SESSION, offset + RTS_COMMAND_OFFSET);
  out.writeUInt8(m.ipvn & 0x0f, offset + RTS_IPVN_OFFSET);
  out.writeUInt8(m.confSender & 0xff, offset + RTS_CONF_SENDER_OFFSET);
  out.writeUInt8(m.confReceiver & 0xff, offset + RTS_CONF_RECEIVER_OFFSET);
  out.writeUInt32BE(m.scheduleSlots >>> 0, offset + RTS_SLOTS_OFFSET);
  out.writeUInt32BE(m.packets >>> 0, offset + RTS_PACKETS_OFFSET);
  out.writeUInt16BE(m.senderPort & 0xffff, offset + RTS_SENDER_PORT_OFFSET);
  out.writeUInt16BE(m.receiverPort & 0xffff, offset + RTS_RECEIVER_PORT_OFFSET);
  writeAddress(out, offset + RTS_SENDER_ADDRESS_OFFSET, m.senderAddress, m.ipvn, 'Sender Address');
  writeAddress(out, offset + RTS_RECEIVER_ADDRESS_OFFSET, m.receiverAddress, m.ipvn, 'Receiver Address');
  writeBytes(out, offset + RTS_SID_OFFSET, 16, m.sid, 'SID');
  out.writeUInt32BE(m.paddingLength >>> 0, offset + RTS_PADDING_OFFSET);
  if (m.startTimeNs !== 0n) writeNtp(out, offset + RTS_START_TIME_OFFSET, m.startTimeNs);
  writeDuration(out, offset + RTS_TIMEOUT_OFFSET, m.timeoutNs);
  out.writeUInt32BE(m.typeP >>> 0, offset + RTS_TYPE_P_OFFSET);
  writeBytes(out, offset + RTS_HMAC_OFFSET, 16, m.hmac, 'HMAC');
  return out;
}

/** Decodes a Request-TW-Session at `offset`; rejects a wrong command number or IP version. */
export function decodeRequestTwSession(buf: Buffer, offset = 0): RequestTwSession {
  requireMessage(buf, offset, REQUEST_TW_SESSION_LENGTH, 'Request-TW-Session');
  const command = buf.readUInt8(offset + RTS_COMMAND_OFFSET);
  if (command !== Command.REQUEST_TW_SESSION) badValue(offset, `command ${command} is not Request-TW-Session`);
  const ipvn = buf.readUInt8(offset + RTS_IPVN_OFFSET) & 0x0f;
  if (ipvn !== 4 && ipvn !== 6) badValue(offset + RTS_IPVN_OFFSET, `IP version ${ipvn} is neither 4 nor 6`);
  const st = offset + RTS_START_TIME_OFFSET;
  const startZero = buf.readUInt32BE(st) === 0 && buf.readUInt32BE(st + 4) === 0;
  return {
    ipvn,
    confSender: buf.readUInt8(offset + RTS_CONF_SENDER_OFFSET),
    confReceiver: buf.readUInt8(offset + RTS_CONF_RECEIVER_OFFSET),
    scheduleSlots: buf.readUInt32BE(offset + RTS_SLOTS_OFFSET),
    packets: buf.readUInt32BE(offset + RTS_PACKETS_OFFSET),
    senderPort: buf.readUInt16BE(offset + RTS_SENDER_PORT_OFFSET),
    receiverPort: buf.readUInt16BE(offset + RTS_RECEIVER_PORT_OFFSET),
    senderAddress: readAddress(buf, offset + RTS_SENDER_ADDRESS_OFFSET, ipvn),
    receiverAddress: readAddress(buf, offset + RTS_RECEIVER_ADDRESS_OFFSET, ipvn),
    sid: readBytes(buf, offset + RTS_SID_OFFSET, 16),
    paddingLength: buf.readUInt32BE(offset + RTS_PADDING_OFFSET),
    startTimeNs: startZero ? 0n : readNtp(buf, st),
    timeoutNs: readDuration(buf, offset + RTS_TIMEOUT_OFFSET),
    typeP: buf.readUInt32BE(offset + RTS_TYPE_P_OFFSET),
    hmac: readBytes(buf, offset + RTS_HMAC_OFFSET, 16),
  };
}
