/**
 * The deployment material in infra/k8s: every manifest validates against the Kubernetes schema of
 * its kind (kubernetes-models, pinned; nothing fetched), the pieces refer to each other correctly
 * (selectors, volumes, config maps, secrets, service accounts), credentials only come from
 * Secrets, and the paper's run config and Spark settings fit the manifests.
 */
/* eslint-disable @typescript-eslint/no-unsafe-member-access,
   @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return,
   @typescript-eslint/no-explicit-any -- YAML documents are untyped; kubernetes-models is what checks them */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseConfig } from '../config/schema';
import { REPO_ROOT } from '../core/paths';

const K8S = path.join(REPO_ROOT, 'infra', 'k8s');
const MANIFESTS = [
  'namespace.yaml',
  'temporal.yaml',
  'ccmix-worker.yaml',
  'spark/executor-pod-template.yaml',
];
/** Created by the operator with kubectl (their values must never be committed). */
const OPERATOR_SECRETS = new Set(['temporal-db', 'ccmix-s3']);
const NAMESPACE = 'ccmix';

type Obj = Record<string, any>;

function loadYaml(text: string, file: string): Obj[] {
  return parseAllDocuments(text).map((doc, i) => {
    if (doc.errors.length > 0) throw new Error(`${file} document ${i}: ${doc.errors[0]?.message}`);
    return doc.toJS() as Obj;
  });
}

const manifests = (): { file: string; doc: Obj }[] =>
  MANIFESTS.flatMap((file) =>
    loadYaml(readFileSync(path.join(K8S, file), 'utf8'), file).map((doc) => ({ file, doc })),
  );

/** kubernetes-models is published as ES modules only; CommonJS reaches it through import(). */
async function validate(doc: Obj): Promise<void> {
  const apiVersion = String(doc.apiVersion ?? '');
  const kind = String(doc.kind ?? '');
  let models: Record<string, new (data: Obj) => { validate(): void }>;
  try {
    models = (await import(`kubernetes-models/${apiVersion}`)) as typeof models;
  } catch {
    throw new Error(`no schema for apiVersion ${apiVersion}`);
  }
  const Model = models[kind];
  if (!Model) throw new Error(`no schema for ${apiVersion} ${kind}`);
  new Model(doc).validate();
}

const podSpecOf = (doc: Obj): Obj | undefined =>
  doc.kind === 'Pod' ? doc.spec : (doc.spec?.template?.spec as Obj | undefined);
const containersOf = (spec: Obj | undefined): Obj[] => [
  ...((spec?.initContainers as Obj[] | undefined) ?? []),
  ...((spec?.containers as Obj[] | undefined) ?? []),
];
const workerDeployment = (): Obj => {
  const found = manifests().find(
    (m) => m.doc.kind === 'Deployment' && m.doc.metadata.name === 'ccmix-worker',
  );
  assert.ok(found, 'ccmix-worker.yaml has the ccmix-worker Deployment');
  return found.doc;
};

function sparkDefaults(): Map<string, string> {
  const text = readFileSync(path.join(K8S, 'spark', 'spark-defaults.conf'), 'utf8');
  const conf = new Map<string, string>();
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const [key, ...rest] = trimmed.split(/\s+/);
    if (key) conf.set(key, rest.join(' '));
  }
  return conf;
}

test('every manifest validates against the Kubernetes schema of its kind', async () => {
  const all = manifests();
  assert.ok(all.length >= 10, `${all.length} documents`);
  for (const { file, doc } of all) {
    await assert.doesNotReject(validate(doc), `${file}: ${doc.kind} ${doc.metadata?.name ?? ''}`);
  }
});

test('a malformed manifest fails the schema check', async () => {
  const broken: [string, (d: Obj) => void][] = [
    ['no selector', (d) => delete d.spec.selector],
    ['replicas as a string', (d) => (d.spec.replicas = 'two')],
    ['a container without a name', (d) => delete d.spec.template.spec.containers[0].name],
    [
      'a secretKeyRef without its key',
      (d) => delete d.spec.template.spec.containers[0].env[0].valueFrom.secretKeyRef.key,
    ],
    ['a port as a word', (d) => (d.spec.template.spec.containers[0].ports = [{ containerPort: 'http' }])],
  ];
  await validate(workerDeployment());
  for (const [label, breakIt] of broken) {
    const doc = structuredClone(workerDeployment());
    breakIt(doc);
    await assert.rejects(validate(doc), `${label} must fail`);
  }
  await assert.rejects(validate({ apiVersion: 'apps/v1', kind: 'Deployments', metadata: { name: 'x' } }));
  assert.throws(() => loadYaml('kind: Deployment\n  metadata: [', 'broken.yaml'), /broken\.yaml/);
});

test('the manifests hold together: selectors, volumes, config maps, secrets, accounts, resources', () => {
  const all = manifests().map((m) => m.doc);
  const named = (kind: string): Set<string> =>
    new Set(all.filter((d) => d.kind === kind).map((d) => String(d.metadata.name)));
  const configMaps = new Set(
    (
      loadYaml(readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8'), 'kustomization.yaml')[0]
        ?.configMapGenerator ?? []
    ).map((g: Obj) => String(g.name)),
  );
  const podLabels: Obj[] = [];
  for (const doc of all) {
    if (doc.kind !== 'Namespace' && doc.kind !== 'Pod')
      assert.equal(doc.metadata.namespace, NAMESPACE, doc.metadata.name);
    if (doc.kind === 'Deployment') {
      const labels = doc.spec.template.metadata.labels as Obj;
      for (const [k, v] of Object.entries(doc.spec.selector.matchLabels as Obj)) {
        assert.equal(labels[k], v, `${doc.metadata.name}: selector ${k} matches its pods`);
      }
      podLabels.push(labels);
    }
    const spec = podSpecOf(doc);
    if (!spec) continue;
    if (spec.serviceAccountName) assert.ok(named('ServiceAccount').has(spec.serviceAccountName));
    const volumes = new Map(((spec.volumes as Obj[] | undefined) ?? []).map((v) => [v.name as string, v]));
    for (const volume of volumes.values()) {
      if (volume.configMap)
        assert.ok(configMaps.has(volume.configMap.name), `config map ${volume.configMap.name}`);
    }
    for (const c of containersOf(spec)) {
      const where = `${doc.metadata?.name ?? doc.kind}/${c.name}`;
      for (const m of (c.volumeMounts as Obj[] | undefined) ?? [])
        assert.ok(volumes.has(m.name), `${where}: volume ${m.name}`);
      for (const kind of ['requests', 'limits']) {
        for (const r of ['cpu', 'memory'])
          assert.ok(c.resources?.[kind]?.[r], `${where}: resources.${kind}.${r}`);
      }
      // Spark sets the executor's image from spark.kubernetes.container.image.
      if (doc.kind !== 'Pod') assert.match(String(c.image), /^[^:]+(:[\w.-]+)$/, `${where}: image pinned`);
      assert.doesNotMatch(String(c.image), /:latest$/);
      for (const e of (c.env as Obj[] | undefined) ?? []) {
        const ref = e.valueFrom?.secretKeyRef as Obj | undefined;
        if (ref) assert.ok(OPERATOR_SECRETS.has(ref.name), `${where}: secret ${ref.name} is documented`);
      }
    }
  }
  for (const svc of all.filter((d) => d.kind === 'Service' && d.spec.type !== 'ExternalName')) {
    const selects = (labels: Obj): boolean =>
      Object.entries(svc.spec.selector as Obj).every(([k, v]) => labels[k] === v);
    assert.ok(podLabels.some(selects), `service ${svc.metadata.name} selects pods of some Deployment`);
  }
  const binding = all.find((d) => d.kind === 'RoleBinding');
  assert.ok(binding && named('Role').has(binding.roleRef.name));
  assert.ok(binding.subjects.every((s: Obj) => named('ServiceAccount').has(s.name)));
});

test('credentials reach containers only from Secrets, never from the files or the run config', () => {
  const secretish = /KEY|SECRET|PASSWORD|PWD|TOKEN/;
  for (const { file, doc } of manifests()) {
    for (const c of containersOf(podSpecOf(doc))) {
      for (const e of (c.env as Obj[] | undefined) ?? []) {
        if (secretish.test(String(e.name)) && e.name !== 'AWS_REGION') {
          assert.ok(e.valueFrom?.secretKeyRef, `${file} ${c.name}: ${e.name} must come from a Secret`);
        }
      }
    }
    assert.notEqual(doc.kind, 'Secret', `${file}: no Secret is committed`);
  }
  const runConfig = readFileSync(path.join(K8S, 'paper-run.json'), 'utf8');
  assert.doesNotMatch(runConfig, /accessKey|secret|password|token|AKIA/i);
  const config = parseConfig(JSON.parse(runConfig));
  assert.match(config.storageRoot, /^s3:\/\//);
});

test('the paper run config and spark-defaults.conf fit the worker and the executor template', () => {
  const config = parseConfig(JSON.parse(readFileSync(path.join(K8S, 'paper-run.json'), 'utf8')));
  assert.match(config.spark.master, /^k8s:\/\/https:\/\//);
  assert.equal(config.spark.jobServer, 'never', 'the job server is for local masters');
  const conf = sparkDefaults();
  const worker = workerDeployment();
  const container = (worker.spec.template.spec.containers as Obj[])[0] ?? {};
  const env = new Map(((container.env as Obj[]) ?? []).map((e) => [e.name as string, e]));
  const confDir = String(env.get('SPARK_CONF_DIR')?.value);
  const templatePath = conf.get('spark.kubernetes.executor.podTemplateFile') ?? '';
  assert.equal(path.dirname(templatePath), confDir, 'the template is where the worker copies the config map');
  const kustomization = loadYaml(readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8'), 'k')[0] ?? {};
  const shipped = (kustomization.configMapGenerator as Obj[]).flatMap((g) => g.files as string[]);
  assert.ok(shipped.map((f) => path.basename(f)).includes(path.basename(templatePath)));
  for (const f of [...shipped, ...(kustomization.resources as string[])])
    assert.ok(existsSync(path.join(K8S, f)), f);
  assert.equal(
    conf.get('spark.kubernetes.container.image'),
    container.image,
    'executors run the worker image',
  );
  assert.equal(conf.get('spark.kubernetes.namespace'), NAMESPACE);
  const template =
    loadYaml(readFileSync(path.join(K8S, templatePath.replace(confDir, 'spark')), 'utf8'), 't')[0] ?? {};
  const names = (template.spec.containers as Obj[]).map((c) => c.name);
  assert.ok(names.includes(conf.get('spark.kubernetes.executor.podTemplateContainerName')));
  // The executor pod's request holds what Spark asks for: heap plus overhead.
  const gib = (s: string | undefined): number => Number(/^(\d+)g$/i.exec(s ?? '')?.[1] ?? NaN);
  const asked = gib(conf.get('spark.executor.memory')) + gib(conf.get('spark.executor.memoryOverhead'));
  const podMemory = String((template.spec.containers as Obj[])[0]?.resources.requests.memory);
  assert.equal(`${asked}Gi`, podMemory);
});
