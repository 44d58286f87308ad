import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { runNode } from '../helpers/cli.js';

const child = fileURLToPath(new URL('./sender-memory-child.js', import.meta.url));

test('a long run does not grow the sender: live heap flat from 20,000 to 60,000 packets per target', async () => {
  const { code, stdout, stderr } = await runNode(['--expose-gc', child], {}, 60_000);
  assert.equal(code, 0, stderr);
  const r = JSON.parse(stdout) as { targets: number; heap: number[]; totals: { sent: number; received: number }; stats: { lost: number; late: number; duplicates: number } };
  // The child's own figures show that every path ran: lost, late and duplicate replies.
  assert.ok(r.totals.sent >= 60_000, `sent ${r.totals.sent}`);
  assert.ok(r.stats.lost > 1_000 && r.stats.late > 500 && r.stats.duplicates > 500, JSON.stringify(r.stats));
  // Before the fate ring (a Map entry per packet, up to 65,536) this read 907 KiB per target; what
  // a period's figures take comes and goes. Now about 10 KiB.
  const growthPerTarget = (r.heap[1]! - r.heap[0]!) / r.targets;
  assert.ok(growthPerTarget < 128 * 1024, `heap grew ${(growthPerTarget / 1024).toFixed(0)} KiB per target over 40,000 packets`);
});
