#!/usr/bin/env node
// Runs every compiled test file under dist/test with Node's test runner.
// Node 20's `--test` takes no globs, so the files are listed here; TWAMPY_TEST_FILTER narrows them.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

function collect(dir) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(collect(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filter = process.env.TWAMPY_TEST_FILTER;
const files = collect('dist/test').filter((f) => !filter || f.includes(filter));
if (files.length === 0) {
  console.error('run-tests: no test files found under dist/test');
  process.exit(1);
}
const args = ['--test', '--test-concurrency=1', ...process.argv.slice(2), ...files];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
