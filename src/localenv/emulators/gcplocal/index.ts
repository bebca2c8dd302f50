export * from './emulator.ts';
export * from './faults.ts';
export * from './install.ts';
export * from './proxy.ts';
export * from './server.ts';
