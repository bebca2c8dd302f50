export * from './binaries.ts';
export * from './controlplane.ts';
export * from './crds.ts';
export * from './kwok.ts';
export * from './process.ts';
export * from './token-webhook.ts';
