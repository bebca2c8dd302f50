export * from './ratelimiter.ts';
export * from './workqueue.ts';
