export * from './proxy.ts';
export * from './server.ts';
