/**
 * The container image recipe. No Docker engine runs here, so the checks are on what the build
 * would do: the stages and base image, the runtime user and entry point, what the build context
 * keeps, and that the runtime stage (production dependencies only, the compiled JavaScript and
 * the native addon at the path the transport loads it from) has everything twampy imports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, readRepo, repoPath } from './util.js';

const dockerfile = readRepo('Dockerfile');
/** Dockerfile instructions with line continuations joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const stages: string[][] = [];
for (const line of instructions) {
  if (/^FROM\s/i.test(line)) stages.push([]);
  stages.at(-1)?.push(line);
}

test('two stages on a pinned Node LTS bookworm-slim base; the build stage has the addon toolchain', () => {
  assert.equal(stages.length, 2);
  const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile);
  assert.ok(arg, 'the base image is one ARG used by both stages');
  // An even (LTS) major the project supports (engines >= 20), pinned to a full version.
  assert.match(arg[1]!, /^node:(\d+)\.\d+\.\d+-bookworm-slim$/, 'pinned to a full Node version');
  const major = Number(/^node:(\d+)/.exec(arg[1]!)![1]);
  assert.ok(major >= 20 && major % 2 === 0, `Node ${major} is an LTS line the project supports`);
  assert.match(stages[0]![0]!, /^FROM \$\{NODE_IMAGE\} AS build$/);
  assert.match(stages[1]![0]!, /^FROM \$\{NODE_IMAGE\}$/);
  const build = stages[0]!.join('\n');
  for (const pkg of ['python3', 'make', 'g++']) assert.match(build, new RegExp(`apt-get install[^\\n]*\\s${pkg.replace('+', '\\+')}(\\s|$)`));
  assert.match(build, /npm ci /);
  assert.match(build, /npm run build/);
  assert.match(build, /npm prune --omit=dev/);
  assert.doesNotMatch(dockerfile, /^\s*ADD\s/m, 'no ADD (no remote downloads)');
  assert.doesNotMatch(dockerfile, /--mount|^# syntax=/m, 'no BuildKit-only syntax: docker-compose 1.29 builds it');
});

test('the runtime stage runs twampy as an unprivileged user', () => {
  const runtime = stages[1]!;
  const user = runtime.filter((l) => /^USER\s/.test(l)).at(-1);
  assert.ok(user && !/^USER\s+(root|0)(:|$)/.test(user), 'a non-root USER');
  assert.equal(runtime.filter((l) => /^ENTRYPOINT/.test(l)).at(-1), 'ENTRYPOINT ["twampy"]');
  assert.match(runtime.join('\n'), /^EXPOSE .*20001\/udp.*8000\/tcp/m);
  // The wrapper the entry point runs is the package's bin.
  const bin = JSON.parse(readRepo('package.json')).bin.twampy as string;
  assert.match(dockerfile, new RegExp(`exec node /app/${bin.replace(/\./g, '\\.')} `));
  // The runtime stage keeps the layout the code expects: /app/{package.json,node_modules,dist/src,build/Release}.
  const build = stages[0]!.join('\n');
  for (const piece of ['cp -r package.json node_modules /out/', 'cp -r dist/src /out/dist/src', 'cp -r build/Release /out/build/']) {
    assert.ok(build.includes(piece), `build stage assembles ${piece}`);
  }
});

test('the native addon lands where the transport loads it from', async () => {
  const native = await import('../../src/transport/native.js');
  const path = relative(ROOT, fileURLToPath(native.NATIVE_ADDON_PATH));
  assert.equal(path, join('build', 'Release', 'twampy_native.node'));
  assert.match(stages[0]!.join('\n'), /node scripts\/build-native\.mjs --strict/, 'the image build fails without the addon');
});

/** Whether .dockerignore excludes a repository path (the simple patterns this file uses). */
function ignored(path: string): boolean {
  const patterns = readRepo('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  return patterns.some((p) => {
    if (p.startsWith('*')) return path.endsWith(p.slice(1)) && !path.includes('/');
    return path === p || path.startsWith(`${p}/`);
  });
}

test('the build context keeps the sources and drops build output, dependencies and history', () => {
  for (const keep of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/cli/main.ts', 'scripts/build-native.mjs', 'native/twampy_native.c']) {
    assert.equal(ignored(keep), false, `${keep} is in the build context`);
  }
  for (const drop of ['node_modules/yargs/package.json', 'dist/src/cli/main.js', 'build/Release/twampy_native.node', '.git/HEAD', 'npm-debug.log']) {
    assert.equal(ignored(drop), true, `${drop} is not in the build context`);
  }
});

test('the compiled code imports only production dependencies and Node built-ins', () => {
  const pkg = JSON.parse(readRepo('package.json'));
  const prod = new Set(Object.keys(pkg.dependencies));
  const builtins = new Set(builtinModules);
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.js')) files.push(p);
    }
  };
  walk(repoPath('dist', 'src'));
  assert.ok(files.length > 10, 'dist/src is built');
  const bad: string[] = [];
  const seen = new Set<string>();
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|^import\s*['"]([^'"]+)['"]/gm)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      seen.add(name);
      if (!prod.has(name)) bad.push(`${relative(ROOT, f)} imports ${spec}`);
    }
  }
  assert.ok(seen.has('yargs') && seen.has('@opentelemetry/sdk-metrics'), `the scan sees package imports: ${[...seen]}`);
  assert.deepEqual(bad, [], 'imports the runtime image (npm prune --omit=dev) would not have');
});
