/** The cell-generation adapter: ownership, gates, suspension, reasons, RuntimeClass mapping, settings. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_CAPABILITIES, InMemoryBackend } from '../../src/backends/inmemory/backend.ts';
import type { CellInstance, RuntimeClass } from '../../src/datum/api/cell-types.ts';
import type { BackendContext } from '../../src/datum/backend.ts';
import {
  cellReason,
  defaultRuntimeClass,
  ownsInstance,
  providerWritesAddresses,
  RUNTIME_CLASS_LABEL,
  runtimeClassOf,
} from '../../src/datum/cell.ts';
import { acceptance, featuresOf, operationsOf, runtimeClassFor } from '../../src/datum/cell-runtimeclass.ts';
import { resolveInstanceType } from '../../src/datum/reconcilers/cell-desired.ts';
import { Refusal } from '../../src/datum/reconcilers/refusal.ts';
import { defaultCellSettings, generationOf, parseSettings, SettingsError } from '../../src/datum/settings.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';

const cell = defaultCellSettings();
const inst = (labels?: Record<string, string>, cls?: 'unikernel' | 'general-purpose'): CellInstance => ({
  metadata: { name: 'i', namespace: 'ns-x', labels },
  spec: {
    runtime: { class: cls, resources: { instanceType: 't' } },
    networkInterfaces: [{ network: { name: 'default' } }],
  },
});

describe('cell adapter', () => {
  it('owns Instances by runtime class: label first, then spec.runtime.class, then the default class', () => {
    assert.equal(ownsInstance(inst({ [RUNTIME_CLASS_LABEL]: cell.runtimeClass }), cell, undefined), true);
    assert.equal(
      ownsInstance(inst({ [RUNTIME_CLASS_LABEL]: 'general-purpose' }), cell, cell.runtimeClass),
      false,
    );
    assert.equal(runtimeClassOf(inst(undefined, 'unikernel')), 'unikernel');
    assert.equal(ownsInstance(inst(), cell, undefined), false, 'no class and no default: not ours');
    const classes: RuntimeClass[] = [
      {
        metadata: { name: cell.runtimeClass },
        spec: { ...runtimeClassFor(cell, DEFAULT_CAPABILITIES, 'x').spec!, default: true },
      },
    ];
    assert.equal(ownsInstance(inst(), cell, defaultRuntimeClass(classes)), true, 'unset class = the default');
  });

  it('writes addresses only without tenant networking and without an attached NetworkInterface', () => {
    const i = inst();
    assert.equal(providerWritesAddresses(i, cell), true);
    assert.equal(providerWritesAddresses(i, { ...cell, tenantNetworking: true }), false);
    i.status = { networkInterfaces: [{ networkInterfaceRef: { name: 'nic-1' } }] };
    assert.equal(providerWritesAddresses(i, cell), false);
  });

  it('maps refusals onto the cell catalogue', () => {
    assert.deepEqual(cellReason('UnknownImage', false), {
      programmed: 'ImageUnavailable',
      available: 'ImageUnavailable',
    });
    assert.deepEqual(cellReason('UnsupportedRuntime', false), {
      programmed: 'ConfigurationError',
      available: 'ConfigurationError',
    });
    assert.deepEqual(cellReason('NetworkNotReady', true), {
      programmed: 'ProgrammingInProgress',
      available: 'Provisioning',
    });
  });

  it('maps capabilities onto RuntimeClass features and operations, and judges a class by them', () => {
    const caps = {
      ...DEFAULT_CAPABILITIES,
      runtimes: ['sandbox' as const],
      volumeKinds: ['configMap' as const],
      suspend: false,
    };
    assert.deepEqual(featuresOf(caps), ['sandboxRuntime', 'configMapVolumes', 'envFrom']);
    assert.deepEqual(operationsOf(caps), []);
    const rc: RuntimeClass = {
      metadata: { name: 'x' },
      spec: {
        controllerName: cell.controllerName,
        isolation: { boundary: 'Container' },
        capabilities: { features: ['sandboxRuntime', 'virtualMachineRuntime'] },
        lifecycle: { operations: ['Suspend'] },
      },
    };
    const v = acceptance(rc, caps, 'test');
    assert.equal(v.accepted, false);
    assert.equal(v.message, 'The test backend cannot honour: virtualMachineRuntime, lifecycle Suspend');
    assert.equal(
      acceptance(runtimeClassFor(cell, caps, 'test'), caps, 'test').accepted,
      true,
      'what we ship we accept',
    );
  });

  it('resolves instance types from the catalog, refusing unknown and disabled ones', () => {
    const catalog = (n: string) =>
      n === 'datumcloud-d1-standard-2' || n === 'old-1'
        ? {
            metadata: { name: n },
            spec: {
              resources: { cpu: '2', memory: '8Gi' },
              lifecycle: { phase: n === 'old-1' ? ('Disabled' as const) : ('Active' as const) },
            },
          }
        : undefined;
    const r = resolveInstanceType('datumcloud-d1-standard-2', catalog, DEFAULT_CAPABILITIES);
    assert.deepEqual(r, { backendType: 'datumcloud/d1-standard-2', resources: { cpu: '2', memory: '8Gi' } });
    assert.throws(() => resolveInstanceType('old-1', catalog, DEFAULT_CAPABILITIES), /Disabled/);
    assert.throws(
      () => resolveInstanceType('missing', catalog, DEFAULT_CAPABILITIES),
      (e: unknown) => e instanceof Refusal && e.transient,
    );
  });

  it('parses generation and cell settings, classic by default', () => {
    const base = 'apiVersion: infra.provider-ts.io/v1alpha1\nkind: ProviderSettings\n';
    assert.equal(generationOf(parseSettings(base)), 'classic');
    const s = parseSettings(`${base}generation: cell\ncell: {runtimeClass: general-purpose}\n`);
    assert.equal(generationOf(s), 'cell');
    assert.deepEqual(s.cell, { ...cell, runtimeClass: 'general-purpose' });
    assert.throws(() => parseSettings(`${base}generation: newest\n`), SettingsError);
    assert.throws(() => parseSettings(`${base}cell: {controllerName: nope}\n`), /domain-prefixed/);
  });
});

describe('in-memory backend suspension', () => {
  it('stops a suspended instance, keeps it, and starts it again on resume', async () => {
    const b = new InMemoryBackend();
    const ctx = {
      credentials: { source: 'InjectedIdentity' },
      config: {},
      location: { namespace: '', name: 'x', topology: {} },
      log: createLogger({ level: 'error', sink: () => {} }),
      signal: new AbortController().signal,
    } as BackendContext;
    const owner = { cluster: 'c', namespace: 'n', kind: 'Instance' as const, name: 'i', uid: 'u' };
    const d = {
      id: 'inst-u',
      owner,
      instanceType: 'datumcloud/d1-standard-2',
      runtime: { kind: 'sandbox' as const, containers: [] },
      interfaces: [],
      sshKeys: [],
      templateHash: 'h',
    };
    assert.equal((await b.ensureInstance(ctx, d)).powerState, 'running');
    const revision = b.snapshot().instances[0]!.revision;
    assert.equal((await b.ensureInstance(ctx, { ...d, suspended: true })).powerState, 'stopped');
    assert.equal(b.snapshot().instances.length, 1);
    assert.equal(b.snapshot().instances[0]!.revision, revision, 'suspension is not a template change');
    assert.equal((await b.ensureInstance(ctx, d)).powerState, 'running');
  });
});
