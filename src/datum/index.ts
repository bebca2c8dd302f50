/**
 * The Datum provider contract, the package's `datum-provider-ts/datum` entry: the backend interface a platform
 * implements, the provider that runs the reconcilers over it, settings, ProviderConfigs and the Datum API types.
 */
export * from './api/resources.ts';
export * from './api/types.ts';
export * from './backend.ts';
export * from './provider.ts';
export * from './providerconfig.ts';
export * from './redact.ts';
export * from './settings.ts';
