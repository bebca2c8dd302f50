/** Cell-generation objects for the contract suite and the cell upstream: Instances, catalog, companions. */

import type { CellInstance, InstanceType } from '../../datum/api/cell-types.ts';
import { CONFIGMAP, INSTANCE, INSTANCE_TYPE, SECRET } from '../../datum/api/resources.ts';
import { REFERENCED_DATA_LABEL, RUNTIME_CLASS_LABEL } from '../../datum/cell.ts';
import type { HttpClient } from '../../runtime/client/client.ts';
import { instanceObject } from './fixtures.ts';

export const CELL_INSTANCE_TYPE = 'datumcloud-d1-standard-2';

export interface CellInstanceFixture {
  name: string;
  namespace: string;
  runtimeClass?: string;
  runtime?: 'sandbox' | 'virtualMachine';
  instanceType?: string;
  gates?: string[];
  templateHash?: string;
  /** A container env from this Secret key, and envFrom this ConfigMap (companions of the Instance). */
  secretEnv?: { secret: string; key: string };
  envFromConfigMap?: string;
  command?: string[];
}

/** The classic fixture in the cell shape: `location: {name}`, the class label, named interface. */
export function cellInstanceObject(f: CellInstanceFixture): CellInstance {
  const base = instanceObject({
    name: f.name,
    namespace: f.namespace,
    location: { name: 'dfw', namespace: '' },
    runtime: f.runtime,
    instanceType: f.instanceType ?? CELL_INSTANCE_TYPE,
    gates: f.gates,
    templateHash: f.templateHash,
  });
  const spec = base.spec!;
  const containers = spec.runtime.sandbox?.containers.map((c) => ({
    ...c,
    ...(f.command ? { command: f.command } : {}),
    env: f.secretEnv
      ? [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: f.secretEnv.secret, key: f.secretEnv.key } } }]
      : undefined,
    envFrom: f.envFromConfigMap
      ? [{ prefix: 'CFG_', configMapRef: { name: f.envFromConfigMap } }]
      : undefined,
  }));
  return {
    metadata: {
      ...base.metadata,
      labels: f.runtimeClass ? { [RUNTIME_CLASS_LABEL]: f.runtimeClass } : undefined,
    },
    spec: {
      ...spec,
      location: { name: 'dfw' },
      runtime: { ...spec.runtime, sandbox: containers ? { containers } : undefined },
      networkInterfaces: spec.networkInterfaces.map((n) => ({ ...n, name: 'eth0' })),
    },
  };
}

export function createCellInstance(c: HttpClient, f: CellInstanceFixture): Promise<CellInstance> {
  return c.create<CellInstance>(INSTANCE, cellInstanceObject(f));
}

export async function createInstanceType(
  c: HttpClient,
  name: string,
  phase: 'Active' | 'Deprecated' | 'Disabled' = 'Active',
): Promise<void> {
  await c.create<InstanceType>(INSTANCE_TYPE, {
    metadata: { name },
    spec: { resources: { cpu: '2', memory: '8Gi' }, lifecycle: { phase } },
  });
}

/** A ConfigMap or Secret as compute's referenced-data resolver delivers it into the cell. */
export async function createCompanion(
  c: HttpClient,
  kind: 'ConfigMap' | 'Secret',
  namespace: string,
  name: string,
  data: Record<string, string>,
): Promise<void> {
  await c.create(kind === 'Secret' ? SECRET : CONFIGMAP, {
    metadata: { name, namespace, labels: { [REFERENCED_DATA_LABEL]: 'true' } },
    ...(kind === 'Secret' ? { stringData: data } : { data }),
  });
}
