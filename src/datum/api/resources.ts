/** REST coordinates of every Datum kind the provider reads or writes. */
import type { ResourceType } from '../../runtime/client/types.ts';

const compute = (kind: string, plural: string): ResourceType => ({
  group: 'compute.datumapis.com',
  version: 'v1alpha',
  kind,
  plural,
  namespaced: true,
});
const networking = (kind: string, plural: string): ResourceType => ({
  group: 'networking.datumapis.com',
  version: 'v1alpha',
  kind,
  plural,
  namespaced: true,
});

export const WORKLOAD = compute('Workload', 'workloads');
export const WORKLOAD_DEPLOYMENT = compute('WorkloadDeployment', 'workloaddeployments');
export const INSTANCE = compute('Instance', 'instances');
export const LOCATION = networking('Location', 'locations');
export const NETWORK = networking('Network', 'networks');
export const NETWORK_BINDING = networking('NetworkBinding', 'networkbindings');
export const NETWORK_CONTEXT = networking('NetworkContext', 'networkcontexts');
export const NETWORK_POLICY = networking('NetworkPolicy', 'networkpolicies');
export const SUBNET = networking('Subnet', 'subnets');
export const SUBNET_CLAIM = networking('SubnetClaim', 'subnetclaims');

export const CONFIGMAP: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'ConfigMap',
  plural: 'configmaps',
  namespaced: true,
};
export const SECRET: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Secret',
  plural: 'secrets',
  namespaced: true,
};
export const NAMESPACE: ResourceType = {
  group: '',
  version: 'v1',
  kind: 'Namespace',
  plural: 'namespaces',
  namespaced: false,
};

/** Cell generation: the cluster-scoped catalogs. */
export const RUNTIME_CLASS: ResourceType = {
  ...compute('RuntimeClass', 'runtimeclasses'),
  namespaced: false,
};
export const INSTANCE_TYPE: ResourceType = {
  ...compute('InstanceType', 'instancetypes'),
  namespaced: false,
};
export const SERVING_LOCATION: ResourceType = {
  group: 'locations.miloapis.com',
  version: 'v1alpha1',
  kind: 'ServingLocation',
  plural: 'servinglocations',
  namespaced: false,
};
