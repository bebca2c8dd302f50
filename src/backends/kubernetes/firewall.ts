/**
 * Datum network policy → one NetworkPolicy per Instance, selecting its Pod (or KubeVirt launcher Pod) by the
 * `datum.net/instance` label. Ingress only, as Datum's policy is; no rules means no ingress. Re-applied on every
 * ensure, so drift (an edited or deleted policy) is corrected. Enforcement needs a CNI that implements
 * NetworkPolicy (docs/kubernetes.md).
 */
import type { IngressRule, ResourceOwner } from '../../datum/backend.ts';
import { isAlreadyExists } from '../../runtime/client/errors.ts';
import type { KubeObject } from '../../runtime/client/types.ts';
import { LABEL_INSTANCE, labelValue, objectName, ownerMeta } from './labels.ts';
import { NETWORK_POLICY, type Session } from './session.ts';

export function policySpec(id: string, ingress: IngressRule[]): Record<string, unknown> {
  return {
    podSelector: { matchLabels: { [LABEL_INSTANCE]: labelValue(id) } },
    policyTypes: ['Ingress'],
    ingress: ingress.map((r) => {
      const rule: Record<string, unknown> = {};
      if (r.ports.length)
        rule.ports = r.ports.map((p) => ({
          protocol: p.protocol,
          ...(p.port !== undefined ? { port: p.port } : {}),
          ...(p.endPort !== undefined && p.port !== undefined && p.endPort > p.port
            ? { endPort: p.endPort }
            : {}),
        }));
      if (r.from.length)
        rule.from = r.from.map((f) => ({
          ipBlock: { cidr: f.cidr, ...(f.except?.length ? { except: f.except } : {}) },
        }));
      return rule;
    }),
  };
}

export async function ensureFirewall(
  s: Session,
  namespace: string,
  id: string,
  owner: ResourceOwner,
  ingress: IngressRule[],
  /** The Instance's network and subnet labels: a subnet is in use while any of its Instances' objects exist. */
  extraLabels: Record<string, string> = {},
): Promise<void> {
  const name = objectName(id);
  const spec = policySpec(id, ingress);
  const meta = ownerMeta(s.managedBy, 'firewall', id, owner);
  const body: KubeObject = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace, labels: { ...meta.labels, ...extraLabels }, annotations: meta.annotations },
    spec,
  };
  const what = `NetworkPolicy ${namespace}/${name}`;
  const found = await s.find(`get ${what}`, (c) => c.get(NETWORK_POLICY, name, namespace));
  if (!found) {
    await s.call(`create ${what}`, (c) =>
      c.create(NETWORK_POLICY, body).catch((err) => (isAlreadyExists(err) ? undefined : Promise.reject(err))),
    );
    return;
  }
  if (JSON.stringify(normalise(found.spec)) === JSON.stringify(normalise(spec))) return;
  s.log.info('converging network policy', { instance: id, policy: `${namespace}/${name}` });
  await s.call(`update ${what}`, (c) =>
    c.update(NETWORK_POLICY, {
      ...body,
      metadata: { ...body.metadata, resourceVersion: found.metadata.resourceVersion },
    }),
  );
}

/** The API server fills defaults (e.g. protocol); compare what we set, in a stable key order. */
export function normalise(spec: unknown): unknown {
  const sp = (spec ?? {}) as {
    podSelector?: unknown;
    policyTypes?: unknown;
    ingress?: Record<string, unknown>[];
  };
  return {
    podSelector: sp.podSelector,
    policyTypes: sp.policyTypes,
    ingress: (sp.ingress ?? []).map((r) => ({ ports: r.ports ?? [], from: r.from ?? [] })),
  };
}

export async function deleteFirewall(s: Session, namespace: string, id: string): Promise<void> {
  const name = objectName(id);
  await s.find(`delete NetworkPolicy ${namespace}/${name}`, (c) => c.delete(NETWORK_POLICY, name, namespace));
}
