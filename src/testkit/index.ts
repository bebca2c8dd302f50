export * from '../localenv/binaries.ts';
export * from '../localenv/controlplane.ts';
export * from '../localenv/crds.ts';
export * from '../localenv/kwok.ts';
export * from '../localenv/process.ts';
export * from './token-webhook.ts';
