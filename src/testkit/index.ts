export * from '../localenv/binaries.ts';
export * from '../localenv/controlplane.ts';
export * from '../localenv/crds.ts';
export * from '../localenv/kwok.ts';
export * from '../localenv/process.ts';
export { providerCommand } from './contract/crash.ts';
export * from './contract/fixtures.ts';
export * from './contract/suite.ts';
export * from './token-webhook.ts';
