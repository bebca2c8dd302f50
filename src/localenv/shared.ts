/** Where the steering repo's shared/ folder is: upstream CRDs and sources, read at run time, never copied. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export function sharedDir(): string {
  return process.env.DATUM_SHARED_DIR ?? resolve(REPO_ROOT, '../shared');
}

export const DATUM_CRDS = {
  get compute() {
    return join(sharedDir(), 'datum-crds/compute');
  },
  get networkClassic() {
    return join(sharedDir(), 'datum-crds/network-services-operator/v0.21.9');
  },
};
