export { BareMetalBackend, type BareMetalBackendOptions } from './backend.ts';
export { BARE_METAL_HOST, BARE_METAL_NETWORK, type BareMetalHost } from './resources.ts';
