export { DEFAULT_MANAGED_BY, GcpBackend } from './backend.ts';
export { toBackendError } from './errors.ts';
export { createGcpBackend, type GcpProviderSettings, gcpOptionsFromConfig } from './factory.ts';
export * from './names.ts';
export { type GcpBackendOptions, type GcpSettings, resolveSettings } from './settings.ts';
export type { SecretDelivery } from './startup.ts';
