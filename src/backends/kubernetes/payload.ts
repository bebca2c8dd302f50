/**
 * An Instance's data objects: file contents (a ConfigMap, and a Secret for sensitive ones), sensitive env
 * values (a Secret) and a VM's cloud-init (a Secret: it may carry Secret files). Each is owned by the Pod or
 * VirtualMachine (ownerReferences), so the cluster's garbage collector removes it with its owner; deletion
 * removes them explicitly as well, for clusters (or moments) without a running collector.
 */
import { createHash } from 'node:crypto';
import type { FileContent, ResourceOwner } from '../../datum/backend.ts';
import { isAlreadyExists } from '../../runtime/client/errors.ts';
import type { KubeObject, OwnerReference } from '../../runtime/client/types.ts';
import { idOf, LABEL_MANAGED_BY, ownerMeta } from './labels.ts';
import { CONFIG_MAP, SECRET, type Session } from './session.ts';

export interface DataObject {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  /** Keys → base64 content (Secrets) or base64 content decoded (ConfigMaps use binaryData). */
  data: Record<string, string>;
}

/** A key for a file: a readable form of its path plus a short hash (keys allow [-._a-zA-Z0-9]). */
export function fileKey(f: FileContent): string {
  const slug = f.path
    .replace(/[^-._a-zA-Z0-9]/g, '_')
    .replace(/^_+/, '')
    .slice(-40);
  return `${slug}-${createHash('sha256').update(f.path).digest('hex').slice(0, 8)}`;
}

export interface InstancePayload {
  objects: DataObject[];
  /** Env values by container/name that live in the env Secret (key). */
  envKey(container: string, name: string): string;
}

export function envKeyOf(container: string, name: string): string {
  return `${container}.${name}`.replace(/[^-._a-zA-Z0-9]/g, '_');
}

/** Builds every data object an Instance needs (empty ones are left out). */
export function buildPayload(
  base: string,
  files: FileContent[],
  secretEnv: { container: string; name: string; value: string }[],
  extraSecret: Record<string, string> = {},
): DataObject[] {
  const plain: Record<string, string> = {};
  const sensitive: Record<string, string> = { ...extraSecret };
  for (const f of files) (f.sensitive ? sensitive : plain)[fileKey(f)] = f.data;
  for (const e of secretEnv)
    sensitive[envKeyOf(e.container, e.name)] = Buffer.from(e.value).toString('base64');
  const out: DataObject[] = [];
  if (Object.keys(plain).length) out.push({ kind: 'ConfigMap', name: `${base}-files`, data: plain });
  if (Object.keys(sensitive).length) out.push({ kind: 'Secret', name: `${base}-secret`, data: sensitive });
  return out;
}

/** Creates or converges each object, owned by `ownerRef`. */
export async function ensurePayload(
  s: Session,
  namespace: string,
  id: string,
  owner: ResourceOwner,
  objects: DataObject[],
  ownerRef: OwnerReference,
): Promise<void> {
  const meta = ownerMeta(s.managedBy, 'instance-data', id, owner);
  for (const o of objects) {
    const r = o.kind === 'Secret' ? SECRET : CONFIG_MAP;
    const body: KubeObject = {
      apiVersion: 'v1',
      kind: o.kind,
      metadata: { name: o.name, namespace, ...meta, ownerReferences: [ownerRef] },
      ...(o.kind === 'Secret' ? { type: 'Opaque', data: o.data } : { binaryData: o.data }),
    };
    const what = `${o.kind} ${namespace}/${o.name}`;
    const found = await s.find(`get ${what}`, (c) => c.get(r, o.name, namespace));
    if (!found) {
      await s.call(`create ${what}`, (c) =>
        c.create(r, body).catch((err) => (isAlreadyExists(err) ? undefined : Promise.reject(err))),
      );
      continue;
    }
    const ownedRight = found.metadata.ownerReferences?.some((x) => x.uid === ownerRef.uid);
    // Marks too: an adopted workload's data objects may be a released Instance's.
    const marked = found.metadata.labels?.[LABEL_MANAGED_BY] === s.managedBy && idOf(found.metadata) === id;
    if (ownedRight && marked && changedKeys(found, o).length === 0) continue;
    await s.call(`update ${what}`, (c) =>
      c.update(r, {
        ...body,
        metadata: { ...body.metadata, resourceVersion: found.metadata.resourceVersion },
      }),
    );
  }
}

/** Keys whose content differs between the stored object and ours (names only: never a value). */
export function changedKeys(found: KubeObject, o: DataObject): string[] {
  const current = ((o.kind === 'Secret' ? found.data : found.binaryData) ?? {}) as Record<string, string>;
  const keys = new Set([...Object.keys(current), ...Object.keys(o.data)]);
  return [...keys].filter((k) => current[k] !== o.data[k]).sort();
}

/** Deletes an Instance's data objects named after `base` (missing ones are fine). */
export async function deletePayload(s: Session, base: string, namespace: string): Promise<void> {
  for (const [r, name] of [
    [CONFIG_MAP, `${base}-files`],
    [SECRET, `${base}-secret`],
  ] as const)
    await s.find(`delete ${r.kind} ${namespace}/${name}`, (c) => c.delete(r, name, namespace));
}
