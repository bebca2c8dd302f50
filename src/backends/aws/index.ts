export { AwsBackend, DEFAULT_MANAGED_BY } from './backend.ts';
export { staticCredentials } from './clients.ts';
export { toBackendError } from './errors.ts';
export { type AwsProviderSettings, awsOptionsFromConfig, createAwsBackend } from './factory.ts';
export {
  type AwsBackendOptions,
  type AwsSettings,
  DEFAULT_CONTAINER_HOST,
  DEFAULT_IMAGES,
  DEFAULT_INSTANCE_TYPES,
  DEFAULT_REGION,
  type ImageRef,
  resolveSettings,
} from './settings.ts';
export * from './tags.ts';
