/** The getting-started flow with the AWS backend (moto behind our fault proxy) and each upstream. */
import { createAwsBackend } from '../../src/backends/aws/index.ts';
import { createLogger } from '../../src/runtime/log/logger.ts';
import { gettingStartedSuite } from './getting-started.ts';

/** What the backend still holds: EC2 resources tagged as ours, read through the emulator. */
async function backendLeftovers(out: string): Promise<string[]> {
  const endpoint = /^ec2-endpoint: (.+)$/m.exec(out)?.[1];
  if (!endpoint) throw new Error('no ec2-endpoint line in the output');
  const backend = createAwsBackend({ backendConfig: { endpoint } });
  const managed = await backend.listManaged({
    credentials: { source: 'Secret', data: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test-secret-key' } },
    region: 'us-east-1',
    config: { endpoint },
    location: { namespace: '', name: '', topology: {} },
    log: createLogger({ level: 'error', sink: () => {} }),
    signal: new AbortController().signal,
  });
  return managed.map((r) => `${r.kind}/${r.id}`);
}

gettingStartedSuite({ backend: 'aws', endpointLines: ['ec2-endpoint'], leftovers: backendLeftovers });
