/**
 * The twampy command lines that docker-compose.yml and the Helm chart run are accepted by the
 * real CLI: parsed by the CLI's own yargs option definitions (strict, so an unknown or misspelt
 * flag fails) and turned into application options by the same functions `twampy` uses, without
 * starting anything. The sender measures the ports the responders listen on.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import yargs, { type Argv } from 'yargs';
import { parse } from 'yaml';
import { responderOptions, senderOptions } from '../../src/cli/parser.js';
import { responderOptionsFromArgs, senderAppOptionsFromArgs, tosFromArgs } from '../../src/config/options.js';
import { resolveOtlpConfig } from '../../src/telemetry/options.js';
import { helm, parseYamlDocuments, readRepo, repoPath, tempDir } from './util.js';

type Parsed = Record<string, unknown>;

/** Parses `twampy <command> ARGS` with the CLI's option definitions; throws on any usage error. */
function parseCli(argv: string[]): { command: string; args: Parsed } {
  const [command, ...rest] = argv;
  const base = yargs(rest).strict().exitProcess(false).fail((msg, err) => {
    throw err ?? new Error(msg);
  });
  const y: Argv | undefined = command === 'sender' ? senderOptions(base) : command === 'responder' ? responderOptions(base) : undefined;
  assert.ok(y, `unknown command ${command}`);
  // A default command declares the positionals, as the real `sender [targets..]` / `responder [listen..]` do.
  const parsed = y
    .command('$0 [positional..]', command!, (yy) => yy.positional('positional', { type: 'string', array: true }))
    .parseSync() as Parsed & { positional?: string[] };
  const positional = (parsed.positional ?? []).map(String);
  const args = { ...parsed, [command === 'sender' ? 'targets' : 'listen']: positional };
  if (command === 'sender') senderAppOptionsFromArgs(args);
  else responderOptionsFromArgs(args);
  return { command: command!, args };
}

/** Expands Kubernetes $(VAR) references the way the kubelet does, from sample values. */
function expand(arg: string, env: Record<string, string>): string {
  return arg.replace(/\$\((\w+)\)/g, (_, name: string) => {
    assert.ok(env[name] !== undefined, `$(${name}) is defined`);
    return env[name]!;
  });
}

const SAMPLE_ENV = { NODE_NAME: 'node-1', HOST_IP: '10.0.0.5', POD_IP: '10.1.0.7', POD_NAME: 'p', POD_NAMESPACE: 'netmon' };

test('compose: the responders and the sender parse, and the sender measures every responder port', () => {
  const compose = parse(readRepo('docker-compose.yml'), { merge: true }) as any;
  const listens = new Map<string, number>();
  let sender: { args: Parsed; env: Record<string, string> } | undefined;
  for (const [name, s] of Object.entries<any>(compose.services)) {
    if (s.image !== 'twampy:local') continue;
    const { command, args } = parseCli(s.command);
    if (command === 'responder') {
      const { listen } = responderOptionsFromArgs(args);
      assert.equal(listen.length, 1);
      listens.set(name, listen[0]!.port);
    } else {
      sender = { args, env: s.environment };
    }
  }
  assert.ok(sender);
  const app = senderAppOptionsFromArgs(sender.args);
  assert.equal(app.sender.count, 0, 'continuous');
  assert.deepEqual(app.targets.map((t) => `${t.host}:${t.port}`).sort(), [...listens].map(([h, p]) => `${h}:${p}`).sort());
  const otlp = resolveOtlpConfig(sender.args.otlp as string | boolean | undefined, sender.env, sender.args['otlp-protocol'] as string | undefined);
  assert.deepEqual(otlp && { url: otlp.url, protocol: otlp.protocol }, { url: 'http://otel-collector:4318/v1/metrics', protocol: 'http/protobuf' });
});

let home: { dir: string; remove: () => void };
before(() => {
  home = tempDir('twampy-helm-args-');
});
after(() => home.remove());

test('chart: every rendered twampy command parses, and mesh senders discover the responder port', () => {
  const files = [undefined, ...readdirSync(repoPath('charts', 'twampy', 'ci')).filter((f) => f.endsWith('.yaml')).sort()];
  for (const f of files) {
    const args = ['template', 'rel', repoPath('charts', 'twampy'), '--namespace', 'netmon'];
    if (f) args.push('-f', repoPath('charts', 'twampy', 'ci', f));
    const r = helm(home.dir, args);
    assert.equal(r.status, 0, r.stderr);
    const containers = new Map<string, any>();
    for (const d of parseYamlDocuments(r.stdout)) {
      if (d.kind === 'DaemonSet') containers.set(d.metadata.labels['app.kubernetes.io/component'], d.spec.template.spec.containers[0]);
    }
    const responder = parseCli(containers.get('responder').args.map((a: string) => expand(a, SAMPLE_ENV)));
    const listenPort = responderOptionsFromArgs(responder.args).listen[0]!.port;
    const senderContainer = containers.get('sender');
    const sender = parseCli(senderContainer.args.map((a: string) => expand(a, SAMPLE_ENV)));
    const app = senderAppOptionsFromArgs(sender.args);
    assert.equal(app.sender.count, 0, `${f}: continuous`);
    for (const d of app.discover) assert.equal(d.port, listenPort, `${f}: discovery uses the responder port`);
    if (sender.args.dscp !== undefined) assert.equal(tosFromArgs(sender.args), 46 << 2, `${f}: DSCP EF`);
    const env: Record<string, string> = Object.fromEntries(
      senderContainer.env.filter((e: any) => e.value !== undefined).map((e: any) => [e.name, expand(e.value, SAMPLE_ENV)]),
    );
    const otlp = resolveOtlpConfig(sender.args.otlp as string | boolean | undefined, env);
    if (env.OTEL_EXPORTER_OTLP_ENDPOINT) {
      assert.equal(otlp?.url, `${env.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/metrics`, `${f}: OTLP URL`);
    } else {
      assert.equal(otlp, null, `${f}: no OTLP push unless enabled`);
    }
  }
});
