export * from './emulator.ts';
export * from './hosts.ts';
export * from './images.ts';
export * from './install.ts';
export * from './proxy.ts';
