export * from './cache.ts';
export * from './indexer.ts';
export * from './informer.ts';
export * from './selector.ts';
