/**
 * Generated invalid and hostile Instances. Each family takes a valid Instance and breaks one thing:
 * - `invalid` cases must be rejected by the API server (CRD validation) or refused by the provider with
 *   `Programmed=False` and a catalogue reason; being programmed, or never answered, is a failure;
 * - `hostile` cases are odd but not clearly wrong (huge, unicode, shell metacharacters): the provider may
 *   program or refuse them, but must answer, and must not crash.
 */
import type { Instance } from '../../src/datum/api/types.ts';
import type { rng } from './config.ts';
import type { Site } from './env.ts';
import { validInstance } from './instances.ts';

export interface BadCase {
  family: string;
  kind: 'invalid' | 'hostile';
  obj: Instance;
  /** The variant picked (for reports). */
  variant: string;
}

type Rng = ReturnType<typeof rng>;
// Hostile input breaks the types on purpose: the families write through this loose view.
// biome-ignore lint/suspicious/noExplicitAny: deliberately ill-typed objects
type Loose = Record<string, any>;

const GOOD_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const spec = (o: Instance): Loose => o.spec as Loose;
const container = (o: Instance): Loose => spec(o).runtime.sandbox.containers[0];
const policy = (o: Instance): Loose => spec(o).networkInterfaces[0].networkPolicy.ingress[0];
const envFrom = (o: Instance, valueFrom: Loose) => {
  container(o).env = [{ name: 'X', valueFrom }];
};
const volume = (o: Instance, v: Loose, mountPath = '/etc/x') => {
  spec(o).volumes = [...(spec(o).volumes ?? []), { name: 'v', ...v }];
  container(o).volumeAttachments = [{ name: 'v', mountPath }];
};
const disk = (o: Instance, storage: string | number) => {
  spec(o).volumes[0].disk.template.spec.resources = { requests: { storage } };
};
const ssh = (o: Instance, value: string) => {
  o.metadata.annotations = { ...o.metadata.annotations, 'compute.datumapis.com/ssh-keys': value };
};

/** family → [runtime the base Instance uses, what breaks]. */
const INVALID: Record<string, ['sandbox' | 'vm', (o: Instance, r: Rng) => void]> = {
  // Caught by the CRD schema (the API server rejects them).
  'no-interfaces': [
    'sandbox',
    (o) => {
      spec(o).networkInterfaces = [];
    },
  ],
  'port-out-of-range': [
    'sandbox',
    (o, r) => {
      container(o).ports[0].port = r.pick([0, 65536, -1, 2 ** 31]);
    },
  ],
  'wrong-type': [
    'sandbox',
    (o, r) =>
      r.pick([
        () => {
          spec(o).runtime.resources.instanceType = 12345;
        },
        () => {
          spec(o).runtime.sandbox.containers = 'nginx';
        },
        () => {
          container(o).env = { A: 'b' };
        },
        () => {
          container(o).ports[0].port = '80';
        },
        () => {
          spec(o).networkInterfaces[0].network = 'default';
        },
      ])(),
  ],
  'bad-quantity': [
    'sandbox',
    (o) => {
      container(o).resources = { requests: { cpu: 'lots' } };
    },
  ],
  'duplicate-containers': ['sandbox', (o) => spec(o).runtime.sandbox.containers.push({ ...container(o) })],
  'missing-template-hash': ['sandbox', (o) => delete spec(o).controller.templateHash],
  'oversized-annotation': [
    'sandbox',
    (o) => {
      o.metadata.annotations = { big: 'a'.repeat(300_000) };
    },
  ],
  // Accepted by the schema; the provider must refuse them.
  'unknown-instance-type': [
    'sandbox',
    (o, r) => {
      spec(o).runtime.resources.instanceType = r.pick([
        'datumcloud/d9-enormous-99',
        '',
        'm6i.large',
        'datumcloud/D1-STANDARD-2',
        'datumcloud/d1-standard-2 ',
        '🦄/unicorn',
        'x'.repeat(20_000),
      ]);
    },
  ],
  'unknown-image': [
    'vm',
    (o, r) => {
      spec(o).volumes[0].disk.template.spec.populator.image.name = r.pick([
        'datumcloud/ubuntu-2404-lts',
        'ubuntu',
        '../../etc/passwd',
        'x'.repeat(10_000),
      ]);
    },
  ],
  'empty-image-name': [
    'vm',
    (o) => {
      spec(o).volumes[0].disk.template.spec.populator.image.name = '';
    },
  ],
  'no-runtime': ['sandbox', (o) => delete spec(o).runtime.sandbox],
  'both-runtimes': [
    'sandbox',
    (o) => {
      spec(o).runtime.virtualMachine = { volumeAttachments: [{ name: 'boot' }] };
    },
  ],
  'ssh-no-colon': ['vm', (o, r) => ssh(o, r.pick(['no-colon-here', `${GOOD_KEY}`, 'a'.repeat(100_000)]))],
  'ssh-empty-user': ['vm', (o) => ssh(o, `:${GOOD_KEY}`)],
  'ssh-empty-key': ['vm', (o, r) => ssh(o, r.pick(['ubuntu:', 'ubuntu:   ']))],
  'ssh-not-a-key': [
    'vm',
    (o, r) =>
      ssh(
        o,
        r.pick([
          'ubuntu:not-a-key',
          'ubuntu:ssh-ed25519 !!!',
          'ubuntu:ssh-rsa',
          `ubuntu:${'A'.repeat(5000)}`,
        ]),
      ),
  ],
  'ssh-bad-user': [
    'vm',
    (o, r) =>
      ssh(o, `${r.pick(['bad user', 'root;reboot', 'a\u0000b', '-rf', 'x'.repeat(300)])}:${GOOD_KEY}`),
  ],
  'env-missing-secret': [
    'sandbox',
    (o) => envFrom(o, { secretKeyRef: { name: 'no-such-secret', key: 'k' } }),
  ],
  'env-missing-secret-key': [
    'sandbox',
    (o) => envFrom(o, { secretKeyRef: { name: 'app-secrets', key: 'nope' } }),
  ],
  'env-missing-configmap': [
    'sandbox',
    (o) => envFrom(o, { configMapKeyRef: { name: 'no-such-cm', key: 'k' } }),
  ],
  'env-missing-configmap-key': [
    'sandbox',
    (o) => envFrom(o, { configMapKeyRef: { name: 'app-config', key: 'nope' } }),
  ],
  'env-empty-secret-name': ['sandbox', (o) => envFrom(o, { secretKeyRef: { key: 'token' } })],
  'env-field-ref': ['sandbox', (o) => envFrom(o, { fieldRef: { fieldPath: 'metadata.name' } })],
  'env-resource-field-ref': ['sandbox', (o) => envFrom(o, { resourceFieldRef: { resource: 'limits.cpu' } })],
  'env-empty-value-from': ['sandbox', (o) => envFrom(o, {})],
  'volume-missing-secret': ['sandbox', (o) => volume(o, { secret: { secretName: 'no-such-secret' } })],
  'volume-missing-configmap': ['sandbox', (o) => volume(o, { configMap: { name: 'no-such-cm' } })],
  'volume-empty-secret-name': ['sandbox', (o) => volume(o, { secret: { secretName: '' } })],
  'volume-item-missing-key': [
    'sandbox',
    (o, r) =>
      volume(
        o,
        r.pick([
          { secret: { secretName: 'app-secrets', items: [{ key: 'nope', path: 'nope.txt' }] } },
          { configMap: { name: 'app-config', items: [{ key: 'nope', path: 'nope.conf' }] } },
        ]),
      ),
  ],
  'volume-item-path-traversal': [
    'sandbox',
    (o, r) =>
      volume(o, {
        secret: {
          secretName: 'app-secrets',
          items: [{ key: 'token', path: r.pick(['../../etc/shadow', '/etc/shadow', '..']) }],
        },
      }),
  ],
  'attachment-without-volume': [
    'sandbox',
    (o) => {
      container(o).volumeAttachments = [{ name: 'ghost', mountPath: '/x' }];
    },
  ],
  'volume-without-source': ['sandbox', (o) => volume(o, {})],
  'vm-boot-not-a-disk': [
    'vm',
    (o) => {
      spec(o).volumes = [{ name: 'cfg', configMap: { name: 'app-config' } }];
      spec(o).runtime.virtualMachine.volumeAttachments = [{ name: 'cfg', mountPath: '/etc/cfg' }];
    },
  ],
  'disk-size-format': ['vm', (o, r) => disk(o, r.pick(['10Mi', '1e3', '-5Gi', 'lots', '2.5']))],
  'disk-size-zero': ['vm', (o, r) => disk(o, r.pick(['0', '0Gi', '0G']))],
  // Beyond what a number can hold exactly: it must not silently become another size.
  'disk-size-huge': ['vm', (o) => disk(o, '99999999999999999999Gi')],
  // A bare quantity is bytes in Kubernetes, not GiB.
  'disk-size-bytes': ['vm', (o, r) => disk(o, r.pick([20, '20']))],
  'unknown-named-port': [
    'sandbox',
    (o, r) => {
      policy(o).ports = [{ port: r.pick(['nope', 'HTTP', '-1']) }];
    },
  ],
  'bad-protocol': [
    'sandbox',
    (o, r) =>
      r.pick([
        () => {
          container(o).ports[0].protocol = r.pick(['HTTP', 'ICMP', '']);
        },
        () => {
          policy(o).ports = [{ port: 80, protocol: 'ICMP' }];
        },
      ])(),
  ],
  'bad-policy-port': [
    'sandbox',
    (o, r) => {
      policy(o).ports = [
        r.pick([
          { port: 0 },
          { port: 70000 },
          { port: '99999' },
          { port: 8080, endPort: 80 },
          { port: 80, endPort: 70000 },
          { port: 'http', endPort: 90 },
        ]),
      ];
    },
  ],
  'bad-cidr': [
    'sandbox',
    (o, r) => {
      policy(o).from = [
        {
          ipBlock: {
            cidr: r.pick([
              '10.0.0.0/33',
              '300.1.2.3/8',
              'not-a-cidr',
              '',
              '10.0.0.0/-1',
              '10.0.0.0',
              'a'.repeat(20_000),
              '0.0.0.0/0; rm -rf /',
            ]),
          },
        },
      ];
    },
  ],
  'bad-cidr-except': [
    'sandbox',
    (o, r) => {
      policy(o).from = [
        { ipBlock: { cidr: '10.0.0.0/8', except: [r.pick(['192.168.0.0/16', 'garbage', '10.0.0.0/40'])] } },
      ];
    },
  ],
  'unknown-network': [
    'sandbox',
    (o) => {
      spec(o).networkInterfaces[0].network = { name: 'no-such-network' };
    },
  ],
};

const HOSTILE: Record<string, (o: Instance, r: Rng) => void> = {
  // Large multi-byte values: an object this size reaches the provider in several chunks.
  'unicode-env': (o) => {
    container(o).env = Array.from({ length: 20 }, (_, i) => ({
      name: `U_${i}`,
      value: `é🦄ü€${i}`.repeat(800),
    }));
  },
  'huge-env': (o, r) => {
    container(o).env = Array.from({ length: 40 }, (_, i) => ({
      name: `VAR_${i}`,
      value: r.pick(['é🦄ü'.repeat(500), '"\'`$(reboot)`;\\'.repeat(100), 'x'.repeat(2000)]),
    }));
  },
  'odd-env-names': (o, r) => {
    container(o).env = [
      { name: r.pick(['A=B', 'WITH SPACE', 'NL\nX', 'ÄÖÜ', '1LEADING_DIGIT']), value: 'v' },
    ];
  },
  'env-value-newline': (o) => {
    container(o).env = [{ name: 'MULTI', value: 'line1\nline2' }];
  },
  'odd-image': (o, r) => {
    container(o).image = r.pick([
      'nginx; rm -rf /',
      'nginx@sha256:' + 'f'.repeat(64),
      'x'.repeat(4000),
      'UPPER/Case:Tag',
    ]);
  },
  'many-rules': (o) => {
    spec(o).networkInterfaces[0].networkPolicy.ingress = Array.from({ length: 80 }, (_, i) => ({
      ports: [{ port: 1000 + i }],
      from: [{ ipBlock: { cidr: `10.${i}.0.0/16` } }],
    }));
  },
  'many-ssh-keys': (o) =>
    ssh(o, Array.from({ length: 100 }, (_, i) => `user${i}:${GOOD_KEY} k${i}`).join('\n')),
  'long-name': (o) => {
    o.metadata.name = `long-${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}`;
  },
  'odd-mount-path': (o, r) =>
    volume(o, { configMap: { name: 'app-config' } }, r.pick(['relative/dir', '/with space', '/a:b', '/'])),
};

export function generateCases(site: Site, invalid: number, hostile: number, rand: Rng): BadCase[] {
  const out: BadCase[] = [];
  let picks: unknown[] = [];
  const r: Rng = {
    ...rand,
    pick: (xs) => {
      const v = rand.pick(xs);
      picks.push(typeof v === 'function' ? xs.indexOf(v) : v);
      return v;
    },
  };
  const variant = () => {
    const v = JSON.stringify(picks) ?? '';
    picks = [];
    return v.length > 80 ? `${v.slice(0, 80)}…` : v;
  };
  const inv = Object.entries(INVALID);
  for (let i = 0; i < invalid; i++) {
    const [family, [runtime, breakIt]] = inv[i % inv.length]!;
    const o = validInstance(site, `bad-${i}`, 'bad', runtime === 'vm' ? 1 : 2);
    breakIt(o, r);
    out.push({ family, kind: 'invalid', obj: o, variant: variant() });
  }
  const hos = Object.entries(HOSTILE);
  for (let i = 0; i < hostile; i++) {
    const [family, breakIt] = hos[i % hos.length]!;
    const o = validInstance(site, `hostile-${i}`, 'bad', 2);
    breakIt(o, r);
    if (family === 'long-name') o.metadata.name = `${o.metadata.name!.slice(0, 240)}-${i}`;
    out.push({ family, kind: 'hostile', obj: o, variant: variant() });
  }
  return out;
}
