/** The Kubernetes backend's pure parts: settings, credentials, names, the Pod/VM/policy it writes, states, errors. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProviderId } from '../../src/backends/kubernetes/adopt.ts';
import { policySpec } from '../../src/backends/kubernetes/firewall.ts';
import {
  clusterConfigFromCredentials,
  KubernetesBackend,
  labelValue,
  objectName,
  projectNamespace,
  resolveSettings,
  toBackendError,
} from '../../src/backends/kubernetes/index.ts';
import { buildVirtualMachine, cloudInit, vmState } from '../../src/backends/kubernetes/kubevirt.ts';
import { buildPod, podState } from '../../src/backends/kubernetes/pod.ts';
import { diffPod, podLines } from '../../src/backends/kubernetes/workload-diff.ts';
import type { Instance } from '../../src/datum/api/types.ts';
import { BackendError, type InstanceDesired } from '../../src/datum/backend.ts';
import { runningCondition } from '../../src/datum/reconcilers/capabilities.ts';
import { errorFromResponse } from '../../src/runtime/client/errors.ts';

const reason = (r: string) => (e: unknown) => e instanceof BackendError && e.reason === r;
const owner = { cluster: 'c1', namespace: 'project-a', kind: 'Instance' as const, name: 'web-0', uid: 'u-1' };

function sandbox(instanceType = 'datumcloud/d1-standard-2'): InstanceDesired {
  return {
    id: 'inst-1',
    owner,
    instanceType,
    templateHash: 'h1',
    sshKeys: [],
    interfaces: [{ networkId: 'net-1', subnetId: 'subnet-1', ingress: [] }],
    runtime: {
      kind: 'sandbox',
      containers: [
        {
          name: 'app',
          image: 'nginx:1.27',
          env: [
            { name: 'PLAIN', value: 'hello', sensitive: false },
            { name: 'TOKEN', value: 'super-secret-env', sensitive: true },
          ],
          ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
          files: [
            {
              path: '/etc/app/a.conf',
              data: Buffer.from('plain').toString('base64'),
              sensitive: false,
              mode: 0o600,
            },
            {
              path: '/etc/app/key',
              data: Buffer.from('secret-file-body').toString('base64'),
              sensitive: true,
            },
          ],
        },
      ],
    },
  };
}

describe('kubernetes backend (unit)', () => {
  it('resolves settings: defaults, config maps over them, bad input refused', () => {
    const s = resolveSettings(
      {},
      { instanceTypes: 'custom/x=3:6Gi:2', kubevirt: 'yes', topologyKeys: 'a,b' },
    );
    assert.deepEqual(s.instanceTypes['custom/x'], { cpu: '3', memory: '6Gi', gpus: 2 });
    assert.deepEqual(s.instanceTypes['datumcloud/d1-standard-2'], { cpu: '2', memory: '8Gi', gpus: 0 });
    assert.equal(s.kubevirt, true);
    assert.deepEqual(s.topologyKeys, ['a', 'b']);
    assert.throws(() => resolveSettings({}, { instanceTypes: 'x=two:8Gi' }), reason('InvalidConfiguration'));
    assert.throws(() => resolveSettings({}, { kubevirt: 'maybe' }), reason('InvalidConfiguration'));
    assert.throws(() => resolveSettings({}, { gpuResource: 'gpu' }), reason('InvalidConfiguration'));
    assert.throws(() => resolveSettings({}, { namespacePrefix: 'Bad_' }), reason('InvalidConfiguration'));
  });

  it('offers VMs only with KubeVirt, and reports container state', () => {
    const b = new KubernetesBackend();
    assert.deepEqual(b.capabilities().runtimes, ['sandbox']);
    assert.equal(b.capabilities().reportsContainerState, true);
    const kv = b.capabilities({
      kubevirt: 'true',
      images: 'datumcloud/debian-12=quay.io/containerdisks/debian:12',
    });
    assert.deepEqual(kv.runtimes, ['sandbox', 'virtualMachine']);
    assert.ok(kv.features.includes('sshKeys') && kv.volumeKinds.includes('disk'));
    assert.deepEqual(kv.images, ['datumcloud/debian-12', 'datumcloud/ubuntu-2204-lts']);
  });

  it('reads a kubeconfig from the Secret, refusing exec plugins and file references, never echoing it', () => {
    assert.throws(
      () => clusterConfigFromCredentials({ source: 'Secret', data: {} }),
      reason('CredentialsInvalid'),
    );
    const kc = (user: Record<string, unknown>) =>
      JSON.stringify({
        apiVersion: 'v1',
        'current-context': 'x',
        clusters: [{ name: 'x', cluster: { server: 'https://edge.example:6443' } }],
        users: [{ name: 'x', user }],
        contexts: [{ name: 'x', context: { cluster: 'x', user: 'x' } }],
      });
    const ok = clusterConfigFromCredentials({
      source: 'Secret',
      data: { kubeconfig: kc({ token: 'tok-12345' }) },
    });
    assert.equal(ok.config.server, 'https://edge.example:6443');
    assert.equal(ok.config.token, 'tok-12345');
    assert.throws(
      () =>
        clusterConfigFromCredentials({
          source: 'Secret',
          data: { kubeconfig: kc({ exec: { command: 'sh' } }) },
        }),
      (e: unknown) => reason('CredentialsInvalid')(e) && /exec/.test((e as Error).message),
    );
    assert.throws(
      () =>
        clusterConfigFromCredentials({
          source: 'Secret',
          data: { kubeconfig: kc({ tokenFile: '/etc/passwd' }) },
        }),
      (e: unknown) => reason('CredentialsInvalid')(e) && /file/.test((e as Error).message),
    );
    assert.throws(
      () => clusterConfigFromCredentials({ source: 'Secret', data: { kubeconfig: 'token: tok-9876: [' } }),
      (e: unknown) => reason('CredentialsInvalid')(e) && !(e as Error).message.includes('tok-9876'),
    );
  });

  it('names things deterministically and DNS-safely', () => {
    const a = projectNamespace('datum-', owner);
    assert.equal(a, projectNamespace('datum-', owner));
    assert.notEqual(a, projectNamespace('datum-', { ...owner, cluster: 'c2' }));
    const long = projectNamespace('datum-', { cluster: 'c', namespace: 'x'.repeat(200) });
    assert.ok(long.length <= 63 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(long), long);
    assert.equal(objectName('inst-abc'), 'inst-abc');
    assert.match(objectName('Inst_ABC/1'), /^inst-abc-1-[0-9a-f]{10}$/);
    assert.ok(labelValue('a'.repeat(80)).length <= 63);
  });

  it('builds a Pod: placement from topology, size from the instance type, secrets only by reference', () => {
    const s = resolveSettings({}, {});
    const pod = buildPod(s, 'mb', sandbox(), 'inst-1', 'ns', { 'topology.datum.net/city-code': 'DFW' });
    const spec = pod.spec as {
      nodeSelector: Record<string, string>;
      tolerations: unknown[];
      containers: {
        env: unknown[];
        volumeMounts: { subPath: string; mountPath: string }[];
        resources: unknown;
      }[];
      volumes: { name: string }[];
    };
    assert.deepEqual(spec.nodeSelector, { 'topology.datum.net/city-code': 'DFW' });
    assert.deepEqual(spec.tolerations, []);
    assert.deepEqual(spec.containers[0]!.resources, {
      requests: { cpu: '2', memory: '8Gi' },
      limits: { cpu: '2', memory: '8Gi' },
    });
    assert.deepEqual(spec.containers[0]!.env, [
      { name: 'PLAIN', value: 'hello' },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'inst-1-secret', key: 'app.TOKEN' } } },
    ]);
    assert.deepEqual(
      spec.containers[0]!.volumeMounts.map((m) => m.mountPath),
      ['/etc/app/a.conf', '/etc/app/key'],
    );
    assert.deepEqual(
      spec.volumes.map((v) => v.name),
      ['files', 'secret-files'],
    );
    const text = JSON.stringify(pod);
    assert.equal(text.includes('super-secret-env'), false);
    assert.equal(text.includes(Buffer.from('secret-file-body').toString('base64')), false);
    assert.equal(pod.metadata.labels?.['datum.net/subnet'], 'subnet-1');

    const gpu = buildPod(s, 'mb', sandbox('datumcloud/g1-standard-8-gpu1'), 'inst-1', 'ns', {});
    const g = gpu.spec as {
      tolerations: unknown[];
      containers: { resources: { limits: Record<string, string> } }[];
    };
    assert.equal(g.containers[0]!.resources.limits['nvidia.com/gpu'], '1');
    assert.deepEqual(g.tolerations, [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  it('builds a VirtualMachine whose cloud-init lives in a Secret', () => {
    const s = resolveSettings({}, { kubevirt: 'true' });
    const d: InstanceDesired = {
      ...sandbox(),
      sshKeys: [{ user: 'ubuntu', key: 'ssh-ed25519 AAAA test' }],
      runtime: {
        kind: 'virtualMachine',
        image: 'datumcloud/ubuntu-2204-lts',
        diskSizeGiB: 20,
        ports: [],
        files: [{ path: '/etc/key', data: Buffer.from('vm-secret').toString('base64'), sensitive: true }],
      },
    };
    const vm = buildVirtualMachine(s, 'mb', d, 'inst-1', 'ns', {});
    const text = JSON.stringify(vm);
    assert.match(text, /quay\.io\/containerdisks\/ubuntu:22\.04/);
    assert.match(text, /"cloudInitNoCloud":\{"secretRef":\{"name":"inst-1-secret"\}\}/);
    assert.equal(text.includes(Buffer.from('vm-secret').toString('base64')), false);
    assert.equal(
      vm.spec?.template.metadata.labels['datum.net/kind'],
      undefined,
      'no ownership on the launcher Pod',
    );
    assert.match(cloudInit(d), /ssh-ed25519 AAAA test/);
    assert.deepEqual(vmState({ metadata: {}, status: { ready: true, printableStatus: 'Running' } }), {
      powerState: 'running',
    });
    assert.equal(
      vmState({ metadata: {}, status: { printableStatus: 'ErrImagePull' } }).reason,
      'ErrImagePull',
    );
  });

  it('reads a Pod state: image pull failures and crash loops as reasons', () => {
    const pending = podState({
      metadata: {},
      status: {
        phase: 'Pending',
        containerStatuses: [
          {
            name: 'app',
            state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "nope"' } },
          },
        ],
      },
    });
    assert.equal(pending.reason, 'ImagePullBackOff');
    assert.match(pending.message ?? '', /container app: ImagePullBackOff/);
    assert.equal(
      podState({
        metadata: {},
        status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
      }).powerState,
      'running',
    );
    assert.equal(podState({ metadata: {}, status: { phase: 'Failed' } }).ended, true);
    const nodeDown = podState({
      metadata: {},
      spec: { nodeName: 'edge-1' },
      status: {
        phase: 'Running',
        conditions: [{ type: 'Ready', status: 'False' }],
        containerStatuses: [{ name: 'app', ready: true, state: { running: {} } }],
      },
    });
    assert.deepEqual([nodeDown.powerState, nodeDown.reason], ['pending', 'NodeNotReady']);
    assert.match(nodeDown.message ?? '', /node edge-1 is not ready/);
    assert.equal(
      podState({ metadata: { deletionTimestamp: 'x' }, status: { phase: 'Running' } }).powerState,
      'stopping',
    );
  });

  it('turns Datum ingress rules into a NetworkPolicy selecting the Instance', () => {
    assert.deepEqual(policySpec('inst-1', []), {
      podSelector: { matchLabels: { 'datum.net/instance': 'inst-1' } },
      policyTypes: ['Ingress'],
      ingress: [],
    });
    const p = policySpec('inst-1', [
      {
        ports: [{ protocol: 'TCP', port: 8000, endPort: 8080 }],
        from: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] }],
      },
      { ports: [], from: [] },
    ]);
    assert.deepEqual(p.ingress, [
      {
        ports: [{ protocol: 'TCP', port: 8000, endPort: 8080 }],
        from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
      },
      {},
    ]);
  });

  it('lets the Running condition carry the reason a backend observed (InstanceObserved.reason)', () => {
    const inst = { metadata: {}, spec: { runtime: { sandbox: { containers: [] } } } } as unknown as Instance;
    const caps = new KubernetesBackend().capabilities();
    assert.deepEqual(
      runningCondition('pending', inst, caps, { reason: 'CrashLoopBackOff', message: 'container app' }),
      ['False', 'CrashLoopBackOff', 'container app'],
    );
    assert.deepEqual(runningCondition('pending', inst, caps), ['False', 'Starting', 'Instance is starting']);
    assert.equal(runningCondition('running', inst, caps, { reason: 'Ignored' })[1], 'Running');
    assert.equal(runningCondition('pending', inst, caps, { reason: 'not a reason!' })[1], 'Starting');
  });

  it('maps API errors to the catalogue', () => {
    const t = toBackendError(errorFromResponse(429, {}, '7'), 'op');
    assert.equal(t.reason, 'Throttled');
    assert.equal(t.retryAfterMs, 7000);
    assert.equal(toBackendError(errorFromResponse(500, {}), 'op').reason, 'Transient');
    assert.equal(toBackendError(errorFromResponse(422, {}), 'op').reason, 'InvalidConfiguration');
    assert.equal(toBackendError(errorFromResponse(401, {}), 'op').reason, 'CredentialsInvalid');
    assert.equal(
      toBackendError(errorFromResponse(403, { message: 'namespace x is being terminated' }), 'op').reason,
      'DependencyNotReady',
    );
    assert.equal(
      toBackendError(errorFromResponse(403, { message: 'forbidden' }), 'op').reason,
      'CredentialsInvalid',
    );
    const quota =
      'pods "x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0';
    assert.equal(toBackendError(errorFromResponse(403, { message: quota }), 'op').reason, 'QuotaExceeded');
    const pss = 'pods "x" is forbidden: violates PodSecurity "restricted:latest": runAsNonRoot != true';
    assert.equal(
      toBackendError(errorFromResponse(403, { message: pss }), 'op').reason,
      'InvalidConfiguration',
    );
  });

  it('offers adopt, observe and plan; a provider id is namespace/name', () => {
    const caps = new KubernetesBackend().capabilities();
    assert.deepEqual([caps.adopt, caps.observe, caps.plan], [true, true, true]);
    assert.deepEqual(parseProviderId('datum-a/inst-1'), { namespace: 'datum-a', name: 'inst-1' });
    for (const bad of ['inst-1', 'a/b/c', 'A/b', '/b', 'a/'])
      assert.throws(() => parseProviderId(bad), reason('InvalidConfiguration'), bad);
  });

  it('diffs a live Pod against the one it would build: server defaults ignored, images apart, no values', () => {
    const s = resolveSettings({}, {});
    const want = buildPod(s, 'm', sandbox(), 'inst-1', 'ns', {});
    const live = structuredClone(want);
    const spec = live.spec as {
      containers: Record<string, unknown>[];
      volumes: Record<string, Record<string, unknown>>[];
      tolerations: unknown[];
    };
    // What the API server adds.
    Object.assign(spec.containers[0]!, { imagePullPolicy: 'IfNotPresent', terminationMessagePath: '/dev/x' });
    for (const v of spec.volumes) Object.assign(v.configMap ?? v.secret ?? {}, { defaultMode: 420 });
    spec.tolerations.push({ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' });
    assert.deepEqual(diffPod(live, want), { fixed: [], images: [] });
    spec.containers[0]!.image = 'nginx:1.26';
    (spec.containers[0]!.env as { name: string; value?: string }[])[0]!.value = 'changed';
    const d = diffPod(live, want);
    assert.deepEqual(d.images, [{ index: 0, name: 'app', from: 'nginx:1.26', to: 'nginx:1.27' }]);
    assert.deepEqual(d.fixed, ['container app: environment']);
    assert.deepEqual(podLines(d), [
      'container app image: nginx:1.26 → nginx:1.27',
      'container app: environment',
    ]);
    assert.ok(!JSON.stringify(d).includes('changed') && !JSON.stringify(d).includes('hello'));
  });
});
