import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dscpToTos, parseDscp, parseTos, tosToDscp, dscpTable } from '../../src/protocol/dscp.js';

test('EF is DSCP 46, TOS 0xB8 (not 46 in the TOS byte)', () => {
  assert.equal(parseDscp('EF'), 46);
  assert.equal(dscpToTos(46), 0xb8);
  assert.equal(tosToDscp(0xb8), 46);
  assert.equal(dscpTable().find((r) => r.name === 'ef')?.tos, 0xb8);
});

test('AF and CS names, numbers and hex', () => {
  assert.equal(parseDscp('af41'), 34);
  assert.equal(parseDscp('cs6'), 48);
  assert.equal(parseDscp('10'), 10);
  assert.equal(parseDscp('0x2e'), 46);
  assert.equal(parseTos('0xb8'), 184);
});

test('bad DSCP and TOS values are refused with the valid range', () => {
  assert.throws(() => parseDscp('64'), /0-63/);
  assert.throws(() => parseDscp('fast'), /invalid DSCP "fast"/);
  assert.throws(() => parseTos('256'), /0-255/);
});
