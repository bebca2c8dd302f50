/** Applies manifest files (server-side apply) for the kinds the local environment knows. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import * as R from '../datum/api/resources.ts';
import { PROVIDER_CONFIG } from '../datum/providerconfig.ts';
import type { HttpClient } from '../runtime/client/client.ts';
import type { KubeObject, ResourceType } from '../runtime/client/types.ts';
import { apiVersionOf } from '../runtime/client/types.ts';

const KNOWN: ResourceType[] = [
  ...Object.values(R).filter((v): v is ResourceType => typeof v === 'object' && 'plural' in v),
  PROVIDER_CONFIG,
];

export function readManifests(path: string): KubeObject[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => /\.ya?ml$/.test(f))
        .sort()
        .map((f) => join(path, f))
    : [path];
  return files.flatMap((f) =>
    parseAllDocuments(readFileSync(f, 'utf8'))
      .map((d) => d.toJS() as KubeObject)
      .filter(Boolean),
  );
}

export function resourceFor(obj: KubeObject): ResourceType {
  const r = KNOWN.find((k) => k.kind === obj.kind && apiVersionOf(k) === obj.apiVersion);
  if (!r) throw new Error(`don't know how to apply ${obj.apiVersion} ${obj.kind}`);
  return r;
}

export async function applyAll(
  client: HttpClient,
  objs: KubeObject[],
  fieldManager = 'datum-provider-examples',
): Promise<void> {
  for (const obj of objs) {
    await client.patch(resourceFor(obj), obj.metadata.name!, obj.metadata.namespace, {
      type: 'apply',
      patch: obj,
      fieldManager,
      force: true,
    });
  }
}
