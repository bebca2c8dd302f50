export * from './conditions.ts';
export * from './events.ts';
export * from './finalizers.ts';
export * from './ownerrefs.ts';
