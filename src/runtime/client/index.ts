export * from './client.ts';
export * from './config.ts';
export * from './errors.ts';
export type * from './interface.ts';
export * from './transport.ts';
export * from './types.ts';
