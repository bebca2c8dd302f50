export { DEFAULT_MANAGED_BY, KubernetesBackend } from './backend.ts';
export { toBackendError } from './errors.ts';
export {
  createKubernetesBackend,
  type KubernetesProviderSettings,
  kubernetesOptionsFromConfig,
} from './factory.ts';
export * from './labels.ts';
export { clusterConfigFromCredentials } from './session.ts';
export {
  DEFAULT_IMAGES,
  DEFAULT_INSTANCE_TYPES,
  type KubernetesBackendOptions,
  type KubernetesSettings,
  resolveSettings,
} from './settings.ts';
