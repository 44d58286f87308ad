import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');

function tableRows(text: string, header: string): string[] {
  const i = text.indexOf(header);
  assert.ok(i >= 0, `table "${header}" present`);
  return text.slice(i).split('\n\n')[0]!.split('\n');
}

test('README opens with the two commands that work on a fresh machine', () => {
  const head = readme.split('\n').slice(0, 8).join('\n');
  assert.match(head, /npm ci && npm start/);
  assert.match(head, /npm ci && npm test/);
});

test("README's metrics table is the one in docs/metrics.md (which the telemetry tests hold to the code)", () => {
  const header = '| name | type | unit | labels | meaning |';
  assert.deepEqual(tableRows(readme, header), tableRows(readFileSync(`${root}docs/metrics.md`, 'utf8'), header));
});

test('README documents every sender and responder option that --help lists', () => {
  const cli = `${root}dist/src/cli/main.js`;
  for (const cmd of ['sender', 'responder']) {
    const help = execFileSync(process.execPath, [cli, cmd, '--help'], { encoding: 'utf8' });
    const opts = [...help.matchAll(/^\s+(?:-\w, )?(--[a-z0-9-]+)/gm)].map((m) => m[1]!).filter((o) => !['--help', '--version'].includes(o));
    for (const o of opts) assert.ok(readme.includes(o), `README lacks ${cmd} ${o}`);
  }
});
