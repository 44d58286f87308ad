/**
 * The docker-compose demo stack: validates with Debian's docker-compose 1.29 and its pieces fit
 * together (sender targets, scrape targets, OTLP endpoint, Grafana provisioning, documented ports).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { posix } from 'node:path';
import { parse } from 'yaml';
import { flagValue, haveTool, readRepo, readYaml, repoPath, run } from './util.js';

const compose = parse(readRepo('docker-compose.yml'), { merge: true }) as any;
const services: Record<string, any> = compose.services;
const twampyServices = Object.entries(services).filter(([, s]) => s.image === 'twampy:local');
const responders = twampyServices.filter(([, s]) => s.command[0] === 'responder');
const senders = twampyServices.filter(([, s]) => s.command[0] === 'sender');

/** The port a twampy responder listens on (ADDR:PORT positional, default 20001). */
function responderPort(args: string[]): number {
  const listen = args[1] && !args[1].startsWith('-') ? args[1] : '0.0.0.0:20001';
  return Number(listen.slice(listen.lastIndexOf(':') + 1));
}

/** Ports a compose service serves inside the network, for scrape-target checks. */
function servedPorts(name: string): number[] {
  const s = services[name];
  if (s.image === 'twampy:local') return [Number(flagValue(s.command, '--metrics-port') ?? 8000)];
  if (name === 'otel-collector') {
    const col = readYaml('otel-collector', 'config.yaml');
    const promPort = Number(String(col.exporters.prometheus.endpoint).split(':').pop());
    const selfPort = Number(col.service.telemetry.metrics.readers[0].pull.exporter.prometheus.port);
    return [promPort, selfPort];
  }
  if (name === 'prometheus') return [9090];
  return [];
}

test('docker-compose 1.29 validates docker-compose.yml', (t) => {
  if (!haveTool(t, 'docker-compose', ['version'])) return;
  const r = run('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q']);
  assert.equal(r.status, 0, `docker-compose config -q failed:\n${r.stderr}`);
});

test('compose runs at least two responders and a continuous sender measuring each of them', () => {
  assert.ok(responders.length >= 2, 'at least two responders');
  assert.equal(senders.length, 1, 'one sender');
  const [, sender] = senders[0]!;
  const args: string[] = sender.command;
  for (const flag of ['--forever', '--metrics', '--nodegraph', '--otlp']) assert.ok(args.includes(flag), `sender has ${flag}`);
  const positional = args.slice(1).filter((a, i, all) => !a.startsWith('-') && !(all[i - 1] ?? '').startsWith('--'));
  const expected = responders.map(([name, s]) => `${name}:${responderPort(s.command)}`).sort();
  assert.deepEqual([...positional].sort(), expected, 'the sender measures every responder on its listening port');
  for (const [name] of responders) {
    assert.equal(sender.depends_on?.[name]?.condition, 'service_healthy', `sender waits for ${name} to be healthy`);
  }
});

test('every service is pinned, restarts, and is health-checked where the image allows it', () => {
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.restart, `${name} has a restart policy`);
    if (s.build) {
      assert.equal(s.build.context ?? s.build, '.', `${name} builds the repository's Dockerfile`);
    } else {
      const tag = String(s.image).split(':')[1] ?? '';
      assert.match(tag, /^v?\d+\.\d+\.\d+/, `${name} image ${s.image} is pinned to a version`);
    }
    // The Collector image has no shell or HTTP client; its health_check extension is published instead.
    if (name !== 'otel-collector') assert.ok(s.healthcheck?.test, `${name} has a health check`);
  }
  for (const [name, s] of twampyServices) {
    assert.equal(s.read_only, true, `${name} runs with a read-only root filesystem`);
    assert.deepEqual(s.cap_drop, ['ALL'], `${name} drops every capability`);
    assert.equal(s.init, true, `${name} runs under an init that forwards signals`);
  }
});

test('published ports bind to loopback and are exactly the ones docs/deploy.md lists', () => {
  const published = new Set<string>();
  for (const [name, s] of Object.entries(services)) {
    for (const p of (s.ports ?? []) as string[]) {
      const m = /^127\.0\.0\.1:(\d+):(\d+)(\/udp)?$/.exec(p);
      assert.ok(m, `${name} publishes ${p} on 127.0.0.1 only`);
      published.add(`${m[1]}/${m[3] ? 'udp' : 'tcp'}`);
    }
  }
  const doc = readRepo('docs', 'deploy.md');
  const section = doc.slice(doc.indexOf('### Published ports'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('|')));
  const documented = new Set([...table.matchAll(/\b(\d{2,5})\/(tcp|udp)\b/g)].map((m) => `${m[1]}/${m[2]}`));
  assert.deepEqual([...documented].sort(), [...published].sort());
});

test('Prometheus scrapes every twampy service and the Collector on ports they serve', (t) => {
  const prom = readYaml('prometheus', 'prometheus.yml');
  const jobs = new Map<string, string[]>(
    prom.scrape_configs.map((c: any) => [c.job_name, c.static_configs.flatMap((s: any) => s.targets)]),
  );
  const all = [...jobs.values()].flat();
  for (const target of all) {
    const [host, port] = target.split(':');
    if (host === 'localhost') continue;
    assert.ok(services[host!], `scrape target ${target} is a compose service`);
    assert.ok(servedPorts(host!).includes(Number(port)), `${host} serves port ${port}`);
  }
  for (const [name] of twampyServices) {
    assert.ok(jobs.get('twampy')!.some((x) => x.startsWith(`${name}:`)), `job twampy scrapes ${name}`);
  }
  assert.deepEqual(jobs.get('twampy-otlp'), ['otel-collector:8889']);
  if (haveTool(t, 'promtool')) {
    const r = run('promtool', ['check', 'config', repoPath('prometheus', 'prometheus.yml')]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  }
});

test('the sender pushes OTLP/HTTP to the Collector receiver', () => {
  const [, sender] = senders[0]!;
  const url = new URL(sender.environment.OTEL_EXPORTER_OTLP_ENDPOINT);
  const col = readYaml('otel-collector', 'config.yaml');
  const httpPort = String(col.receivers.otlp.protocols.http.endpoint).split(':').pop();
  assert.equal(url.hostname, 'otel-collector');
  assert.equal(url.port, httpPort);
  assert.ok(services['otel-collector'].volumes.some((v: string) => v.startsWith('./otel-collector/config.yaml:')));
});

test('Grafana is provisioned from dashboards/ and opens on the overview without a login', () => {
  const g = services.grafana;
  const mounts = new Map<string, string>(
    (g.volumes as string[]).filter((v) => v.startsWith('./')).map((v) => [v.split(':')[1]!, v.split(':')[0]!]),
  );
  assert.equal(mounts.get('/etc/grafana/provisioning'), './dashboards/provisioning');
  /** Maps a path inside the Grafana container to the repository file it comes from. */
  const hostPath = (inside: string): string | undefined => {
    for (const [target, source] of mounts) {
      if (inside === target || inside.startsWith(target + '/')) return repoPath(source, posix.relative(target, inside));
    }
    return undefined;
  };
  const provider = readYaml('dashboards', 'provisioning', 'dashboards', 'twampy.yaml').providers[0];
  const dashDir = hostPath(provider.options.path);
  assert.ok(dashDir && existsSync(repoPath('dashboards', 'twampy-overview.json')) && dashDir === repoPath('dashboards'));
  const home = hostPath(g.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH);
  assert.ok(home && existsSync(home), 'the home dashboard is a provisioned file');
  assert.equal(g.environment.GF_AUTH_ANONYMOUS_ENABLED, 'true');
  const ds = readYaml('dashboards', 'provisioning', 'datasources', 'prometheus.yaml').datasources[0];
  assert.equal(new URL(ds.url).hostname, 'prometheus');
  assert.equal(Number(new URL(ds.url).port), servedPorts('prometheus')[0]);
  assert.equal(g.depends_on.prometheus.condition, 'service_healthy');
});
