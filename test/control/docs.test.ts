// docs/control.md documents every option that `--help` lists for the full-TWAMP commands (the
// controller's sender options are documented with `twampy sender` in the README).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(`${root}docs/control.md`, 'utf8');
const entry = fileURLToPath(new URL('./fixtures/cli-entry.js', import.meta.url));

function options(args: string[]): string[] {
  const help = execFileSync(process.execPath, [entry, ...args, '--help'], { encoding: 'utf8' });
  return [...help.matchAll(/^\s+(?:-\w, )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!).filter((o) => !['--help', '--version'].includes(o));
}

test('docs/control.md documents every server, controlclient and controller-only option', () => {
  const senderLike = new Set(options(['controller', 'x']).filter((o) => !['--mode', '--key-id', '--key-file', '--control-timeout', '--sessions', '--test-port', '--session-timeout'].includes(o)));
  for (const [cmd, extra] of [['server', []], ['controlclient', ['x']], ['controller', ['x']]] as const) {
    const opts = options([cmd, ...extra]);
    assert.ok(opts.length >= 10, `${cmd} --help lists ${opts.length} options`);
    for (const o of opts) {
      if (cmd === 'controller' && senderLike.has(o)) continue;
      assert.ok(doc.includes(`\`${o}`), `docs/control.md lacks ${cmd} ${o}`);
    }
  }
});
