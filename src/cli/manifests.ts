/**
 * `datum-provider manifests`: the CRDs and the RBAC this version of the provider needs, as one YAML stream,
 * read from the files the tests prove (deploy/crds, deploy/rbac). Diff it at upgrade time, or pipe it to
 * `kubectl apply -f -` (`make install` does that with --crds).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const DEPLOY = fileURLToPath(new URL('../../deploy/', import.meta.url));

/** The kustomization files list what belongs; everything else in the folder (examples, notes) does not. */
function listed(dir: string): string[] {
  const k = readFileSync(join(DEPLOY, dir, 'kustomization.yaml'), 'utf8');
  const files = [...k.matchAll(/^\s+-\s+(\S+\.yaml)\s*$/gm)].map((m) => m[1]!);
  const present = new Set(readdirSync(join(DEPLOY, dir)));
  for (const f of files)
    if (!present.has(f)) throw new Error(`deploy/${dir}/kustomization.yaml lists ${f}, which is missing`);
  return files.map((f) => join(DEPLOY, dir, f));
}

export function manifests(which: { crds: boolean; rbac: boolean }): string {
  const files = [...(which.crds ? listed('crds') : []), ...(which.rbac ? listed('rbac') : [])];
  return files
    .map((f) => `# Source: deploy/${f.slice(DEPLOY.length)}\n${readFileSync(f, 'utf8').trim()}\n`)
    .join('---\n');
}
