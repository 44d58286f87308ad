#!/usr/bin/env node
// Builds the optional native socket layer (native/twampy_native.c -> build/Release/twampy_native.node).
// Runs as the package's `install` step, so it must never fail `npm ci`: on a machine without
// Linux, a C compiler or Node's headers it prints a warning and exits 0, and twampy falls back to
// the portable node:dgram transport. It compiles the single C file directly with the system C
// compiler instead of node-gyp because node-gyp would try to download headers when it has no
// cached copy, and these machines reach no download site; binding.gyp stays for `node-gyp rebuild`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { homedir } from 'node:os';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'twampy_native.c');
const outDir = join(root, 'build', 'Release');
const out = join(outDir, 'twampy_native.node');
const strict = process.argv.includes('--strict'); // fail loudly (used by tests and CI), not in npm ci

function warn(msg) {
  console.warn(`twampy: native socket layer not built: ${msg}`);
  console.warn('twampy: falling back to the portable node:dgram transport (no DSCP/TOS, Don\'t Fragment, received TTL/TOS or kernel timestamps).');
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') warn(`it is Linux-only (platform is ${process.platform})`);
if (process.env.TWAMPY_NATIVE === '0') warn('disabled by TWAMPY_NATIVE=0');
if (!existsSync(source)) warn(`${source} is missing`);

// Node's headers: the ones installed beside this node binary, else node-gyp's cache.
const version = process.version.slice(1);
const candidates = [
  process.env.TWAMPY_NODE_INCLUDE,
  join(dirname(dirname(process.execPath)), 'include', 'node'),
  join(homedir(), '.cache', 'node-gyp', version, 'include', 'node'),
  '/usr/include/node',
].filter(Boolean);
const include = candidates.find((d) => existsSync(join(d, 'node_api.h')) && existsSync(join(d, 'uv.h')));
if (!include) warn(`Node's C headers (node_api.h, uv.h) were not found in ${candidates.join(', ')}`);

// The first C compiler that runs: $CC, else cc, gcc, clang.
const cc = [process.env.CC, 'cc', 'gcc', 'clang'].filter(Boolean).find((c) => !spawnSync(c, ['--version'], { stdio: 'ignore' }).error) ?? (process.env.CC || 'cc');
const tmp = `${out}.tmp-${process.pid}`;
mkdirSync(outDir, { recursive: true });
const args = [
  '-O2', '-g0', '-fPIC', '-shared', '-Wall', '-Wextra', '-Wno-unused-parameter',
  '-fvisibility=hidden', '-DNODE_GYP_MODULE_NAME=twampy_native', '-DBUILDING_NODE_EXTENSION',
  `-I${include}`, source, '-o', tmp,
];
const r = spawnSync(cc, args, { stdio: ['ignore', 'inherit', 'inherit'] });
if (r.error || r.status !== 0) {
  rmSync(tmp, { force: true });
  warn(r.error ? `${cc} could not run (${r.error.message})` : `${cc} exited with status ${r.status}`);
}
// Rename into place so a concurrent loader never sees a half-written file.
renameSync(tmp, out);
console.log(`twampy: native socket layer built: ${out}`);
