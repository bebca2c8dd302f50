export * from './client.ts';
export * from './config.ts';
export * from './errors.ts';
export * from './exec-credentials.ts';
export * from './exec-plugin.ts';
export type * from './interface.ts';
export {
  type KubeconfigContext,
  type KubeconfigEntry,
  type KubeconfigFile,
  kubeconfigPaths,
  type MergedKubeconfig,
  mergeKubeconfigs,
  parseKubeconfig,
  readKubeconfigs,
} from './kubeconfig.ts';
export * from './transport.ts';
export * from './types.ts';
