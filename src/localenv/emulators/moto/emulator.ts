/**
 * A local EC2 emulator for tests and for trying the AWS backend: moto on 127.0.0.1 behind our fault proxy.
 *   const emu = await startEc2Emulator();
 *   new EC2Client({ endpoint: emu.endpoint, region: emu.region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } })
 * Call `reset()` between tests and `stop()` at the end (a reaper kills moto if the test process dies first).
 */
import type { FaultRule } from './faults.ts';
import { type FaultProxy, type FaultProxyOptions, startFaultProxy } from './proxy.ts';
import { type StartMotoOptions, startMoto } from './server.ts';

export interface Ec2Emulator {
  /** The proxy's address: what clients use. */
  endpoint: string;
  /** moto itself, bypassing faults (for test assertions that must not be disturbed). */
  motoEndpoint: string;
  region: string;
  proxy: FaultProxy;
  /** Wipes moto's state and the proxy's plan, log and caches. */
  reset(): Promise<void>;
  /** Creates an IAM instance profile in moto (RunInstances validates that a named profile exists). */
  createInstanceProfile(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface Ec2EmulatorOptions extends FaultProxyOptions, StartMotoOptions {
  faults?: FaultRule[];
  /** Region the emulator is meant for (moto serves every region; this is what `region` reports). */
  region?: string;
}

export async function startEc2Emulator(opts: Ec2EmulatorOptions = {}): Promise<Ec2Emulator> {
  const moto = await startMoto(opts);
  let proxy: FaultProxy;
  try {
    proxy = await startFaultProxy(moto.endpoint, opts);
  } catch (err) {
    await moto.stop();
    throw err;
  }
  return {
    endpoint: proxy.endpoint,
    motoEndpoint: moto.endpoint,
    region: opts.region ?? 'us-east-1',
    proxy,
    async reset() {
      await moto.reset();
      proxy.reset();
    },
    async createInstanceProfile(name: string) {
      const body = new URLSearchParams({
        Action: 'CreateInstanceProfile',
        Version: '2010-05-08',
        InstanceProfileName: name,
      });
      const res = await fetch(`${moto.endpoint}/`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization:
            'AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
        },
        body,
      });
      const text = await res.text();
      if (!res.ok && !text.includes('EntityAlreadyExists'))
        throw new Error(`CreateInstanceProfile failed: HTTP ${res.status} ${text.slice(0, 300)}`);
    },
    async stop() {
      await proxy.close();
      await moto.stop();
    },
  };
}
