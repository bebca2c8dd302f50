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
  /**
   * The cell generation as one coherent set (see its SOURCE.md): the ab497d5 Instance, which matches the
   * WorkloadDeployment's template, with the RuntimeClass and InstanceType catalog. No networking CRDs: a
   * provider in a cell programs none.
   */
  get cell(): string[] {
    const dir = join(sharedDir(), 'datum-crds/cell-generation');
    return [
      join(dir, 'variants/ab497d5/compute.datumapis.com_instances.yaml'),
      join(dir, 'compute.datumapis.com_workloaddeployments.yaml'),
      join(dir, 'compute.datumapis.com_runtimeclasses.yaml'),
      join(dir, 'compute.datumapis.com_instancetypes.yaml'),
      // The cell's own place: exactly one, naming its Location and city (the cell upstream reads it).
      join(dir, 'locations.miloapis.com_servinglocations.yaml'),
    ];
  },
};
