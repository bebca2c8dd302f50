/** Installs CustomResourceDefinitions from files/dirs/objects and waits until they are served. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { HttpClient } from '../runtime/client/client.ts';
import { isNotFound } from '../runtime/client/errors.ts';
import type { KubeObject, ResourceType } from '../runtime/client/types.ts';

export const CRD: ResourceType = {
  group: 'apiextensions.k8s.io',
  version: 'v1',
  kind: 'CustomResourceDefinition',
  plural: 'customresourcedefinitions',
  namespaced: false,
};

/** Reads every CRD in the given YAML files or directories (multi-document files included). */
export function readCRDs(paths: string[]): KubeObject[] {
  const out: KubeObject[] = [];
  for (const p of paths) {
    if (!existsSync(p))
      throw new Error(
        `no CRDs at ${p}${p.includes('datum-crds') ? ": Datum's CRDs are read from $DATUM_SHARED_DIR/datum-crds (default ../shared next to the package); set DATUM_SHARED_DIR to the folder holding datum-crds/" : ''}`,
      );
    const files = statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => /\.(ya?ml|json)$/.test(f))
          .sort()
          .map((f) => join(p, f))
      : [p];
    for (const f of files) {
      for (const doc of parseAllDocuments(readFileSync(f, 'utf8'))) {
        const obj = doc.toJS() as KubeObject | null;
        if (obj?.kind === 'CustomResourceDefinition' && obj.spec?.group && obj.spec?.names?.kind)
          out.push(obj);
      }
    }
  }
  return out;
}

export async function installCRDs(
  client: HttpClient,
  input: (string | KubeObject)[],
  timeoutMs = 30_000,
): Promise<KubeObject[]> {
  const paths = input.filter((i): i is string => typeof i === 'string');
  const crds = [...readCRDs(paths), ...input.filter((i): i is KubeObject => typeof i !== 'string')];
  for (const crd of crds) {
    const body = {
      ...crd,
      metadata: {
        name: crd.metadata.name,
        labels: crd.metadata.labels,
        annotations: crd.metadata.annotations,
      },
    };
    try {
      const existing = await client.get(CRD, crd.metadata.name!);
      await client.update(CRD, {
        ...body,
        metadata: { ...body.metadata, resourceVersion: existing.metadata.resourceVersion },
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await client.create(CRD, body);
    }
  }
  await Promise.all(crds.map((c) => waitServed(client, c, timeoutMs)));
  return crds;
}

async function waitServed(client: HttpClient, crd: KubeObject, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const versions = (crd.spec.versions as { name: string; served: boolean }[])
    .filter((v) => v.served)
    .map((v) => v.name);
  for (;;) {
    try {
      const cur = await client.get(CRD, crd.metadata.name!);
      const established = cur.status?.conditions?.some(
        (c: { type: string; status: string }) => c.type === 'Established' && c.status === 'True',
      );
      if (established) {
        let all = true;
        for (const v of versions) {
          const list = await client.request<{ resources: { name: string }[] }>(
            'GET',
            `/apis/${crd.spec.group}/${v}`,
          );
          if (!list.resources.some((r) => r.name === crd.spec.names.plural)) all = false;
        }
        if (all) return;
      }
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (Date.now() > deadline) throw new Error(`CRD ${crd.metadata.name} not served within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
