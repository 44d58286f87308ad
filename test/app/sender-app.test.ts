import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SenderApp } from '../../src/app/sender-app.js';
import { systemClock, systemScheduler } from '../../src/session/clock.js';
import { DgramTransport } from '../../src/transport/dgram.js';
import { SENDER_DEFAULTS, loopbackResponder } from '../helpers/loopback.js';

test('targets file reload adds and removes targets; a bad file keeps the current set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'twampy-app-'));
  const r = await loopbackResponder('127.0.0.1');
  const file = join(dir, 'targets.yaml');
  writeFileSync(file, `- 127.0.0.1:${r.port}\n- localhost:${r.port}\n`);
  const added: string[] = [];
  const removed: string[] = [];
  const app = new SenderApp(
    { targets: [], discover: [], discoverIntervalMs: 30_000, exclude: [], targetsFile: file, family: 4, resolveIntervalMs: 60_000, sender: { ...SENDER_DEFAULTS, count: 0 } },
    new DgramTransport(), systemClock, systemScheduler,
    { onTargetAdded: (t) => added.push(t), onTargetRemoved: (t) => removed.push(t) },
  );
  try {
    await app.start();
    assert.deepEqual(app.sender.targets().sort(), [`127.0.0.1:${r.port}`, `localhost:${r.port}`]);
    writeFileSync(file, `- localhost:${r.port}\n`);
    await app.reload();
    assert.deepEqual(app.sender.targets(), [`localhost:${r.port}`]);
    assert.deepEqual(removed, [`127.0.0.1:${r.port}`]);
    writeFileSync(file, '- [unclosed');
    await assert.rejects(app.reload(), /not valid YAML/);
    assert.deepEqual(app.sender.targets(), [`localhost:${r.port}`]);
  } finally {
    await app.stop(false);
    await r.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--discover measures every address of a name and --exclude skips one', async () => {
  const r = await loopbackResponder('127.0.0.1');
  const app = new SenderApp(
    {
      targets: [], discover: [{ name: `localhost:${r.port}`, host: 'localhost', port: r.port }], discoverIntervalMs: 30_000,
      exclude: ['::1'], family: undefined, resolveIntervalMs: 60_000, sender: { ...SENDER_DEFAULTS, count: 0 },
    },
    new DgramTransport(), systemClock, systemScheduler, {},
  );
  try {
    await app.start();
    const t = app.sender.targets();
    assert.ok(t.includes(`127.0.0.1:${r.port}`), t.join(','));
    assert.ok(!t.some((x) => x.includes('::1')), 'excluded address not measured');
  } finally {
    await app.stop(false);
    await r.close();
  }
});
