/** The embedded local environment (see runEmbedded). */
import type { ProviderSettings } from '../datum/settings.ts';

export interface EmbeddedOptions {
  examples: boolean;
  upstream: 'real' | 'standalone' | 'auto';
  dataDir: string;
}

export async function runEmbedded(_settings: ProviderSettings, _opts: EmbeddedOptions): Promise<number> {
  process.stderr.write(
    'the embedded environment is not available yet; pass --kubeconfig to run against a cluster\n',
  );
  return 2;
}
