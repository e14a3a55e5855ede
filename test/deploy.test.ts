// deploy/k8s.yaml: parses, every shard is deployable as documented, and the shards' camgate.yaml
// files load through loadConfig with no camera owned twice.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../gateway/config.ts';

// Kubernetes objects are walked loosely: the assertions are the schema.
type Obj = Record<string, any>;

const docs = parseAllDocuments(readFileSync(new URL('../deploy/k8s.yaml', import.meta.url), 'utf8'));

it('deploy/k8s.yaml parses as YAML, every document a Kubernetes object', () => {
  for (const d of docs) assert.deepEqual(d.errors, [], String(d.errors[0]));
  for (const o of docs.map((d) => d.toJS() as Obj)) {
    assert.equal(typeof o.apiVersion, 'string');
    assert.equal(typeof o.kind, 'string');
    assert.equal(typeof o.metadata?.name, 'string');
  }
});

it('one Secret, Deployment and Service per shard; each Deployment runs one non-root, read-only instance with probes and a 15 s+ grace', () => {
  const objects = docs.map((d) => d.toJS() as Obj);
  const deployments = objects.filter((o) => o.kind === 'Deployment');
  assert.ok(deployments.length >= 2, 'several shards');
  const secrets = new Map(objects.filter((o) => o.kind === 'Secret').map((o) => [o.metadata.name, o]));
  const services = objects.filter((o) => o.kind === 'Service');
  const dir = mkdtempSync(join(tmpdir(), 'camgate-k8s-'));
  const owner = new Map<string, string>();
  try {
    for (const d of deployments) {
      const shard = d.spec.selector.matchLabels.shard as string;
      assert.ok(shard, `${d.metadata.name} selects a shard`);
      assert.deepEqual(d.spec.template.metadata.labels, d.spec.selector.matchLabels);
      assert.equal(d.spec.replicas, 1, 'one instance per shard: two would double the logins each camera sees');
      assert.equal(d.spec.strategy.type, 'Recreate');
      const pod = d.spec.template.spec;
      assert.ok(pod.terminationGracePeriodSeconds >= 15);
      assert.equal(pod.securityContext.runAsNonRoot, true);
      assert.equal(pod.automountServiceAccountToken, false);
      const [c] = pod.containers;
      assert.equal(c.securityContext.readOnlyRootFilesystem, true);
      assert.equal(c.securityContext.allowPrivilegeEscalation, false);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
      assert.equal(c.livenessProbe.httpGet.path, '/healthz');
      assert.equal(c.readinessProbe.httpGet.path, '/readyz');
      const env = Object.fromEntries(c.env.map((e: Obj) => [e.name, e]));
      assert.equal(env.CAMGATE_CONFIG.value, '/config/camgate.yaml');
      assert.ok(env.CAMGATE_ADMIN_PASSWORD.valueFrom.secretKeyRef, 'the admin password comes from a Secret');
      assert.ok(c.volumeMounts.some((m: Obj) => m.mountPath === '/tmp'), 'a writable /tmp beside the read-only root');
      const configVolume = pod.volumes.find((v: Obj) => v.name === c.volumeMounts.find((m: Obj) => m.mountPath === '/config').name);
      const secret = secrets.get(configVolume.secret.secretName);
      assert.ok(secret, `${d.metadata.name}: its Secret exists`);
      assert.ok(services.some((s) => s.spec.selector.shard === shard), `shard ${shard} has a Service`);

      const file = join(dir, `${shard}.yaml`);
      writeFileSync(file, secret.stringData['camgate.yaml']);
      const config = loadConfig(['--config', file], { CAMGATE_ADMIN_PASSWORD: 'x' });
      assert.ok(config.cameras.length > 0);
      assert.equal(config.discovery, false, 'multicast discovery is off inside a cluster');
      for (const cam of config.cameras) {
        assert.equal(owner.get(cam.id), undefined, `camera ${cam.id} is in shards ${owner.get(cam.id)} and ${shard}`);
        owner.set(cam.id, shard);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
