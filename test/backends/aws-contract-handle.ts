/**
 * The contract-suite handle for the AWS backend on moto (through the fault proxy), shared by the classic and
 * cell runs. The crash test runs a provider process (`--backend aws`) against the same emulator.
 */
import { randomUUID } from 'node:crypto';
import { DescribeInstancesCommand, DescribeSecurityGroupsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { createAwsBackend } from '../../src/backends/aws/index.ts';
import { TAG_MANAGED_BY, TAG_UID } from '../../src/backends/aws/tags.ts';
import type { PowerState } from '../../src/datum/backend.ts';
import { startEc2Emulator } from '../../src/localenv/emulators/moto/index.ts';
import { providerCommand } from '../../src/testkit/contract/crash.ts';
import { fixturesContext, interfaceHandle } from '../../src/testkit/contract/interface-handle.ts';
import type { ContractHandle } from '../../src/testkit/contract/suite.ts';

const PROFILE = 'datum-instance';

export async function makeAwsContractHandle(): Promise<ContractHandle> {
  const emu = await startEc2Emulator();
  await emu.createInstanceProfile(PROFILE);
  const backendConfig = {
    endpoint: emu.endpoint,
    instanceProfile: PROFILE,
    managedBy: `contract-${randomUUID().slice(0, 8)}`,
    images: 'datumcloud/ubuntu-2204-lts=ami-0123456789abcdef0#/dev/sda1',
    containerHostImage: 'ami-0fedcba9876543210#/dev/xvda',
  };
  const backend = createAwsBackend({ backendConfig });
  const ctx = fixturesContext({
    credentials: { source: 'Secret', data: { accessKeyId: 'AKIDHANDLE', secretAccessKey: 'handle-secret' } },
    region: emu.region,
    config: backendConfig,
  });
  const ec2 = new EC2Client({
    endpoint: emu.endpoint,
    region: emu.region,
    credentials: { accessKeyId: 'AKIDHANDLE', secretAccessKey: 'handle-secret' },
  });
  return {
    backend,
    async powerState(uid: string): Promise<PowerState | undefined> {
      const out = await ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${TAG_UID}`, Values: [uid] },
            { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
          ],
        }),
      );
      const state = (out.Reservations ?? []).flatMap((r) => r.Instances ?? [])[0]?.State?.Name;
      return state === 'shutting-down' ? 'stopping' : (state as PowerState | undefined);
    },
    ...interfaceHandle(backend, ctx),
    injectInstanceFaults(mode, count) {
      emu.proxy.plan({
        action: 'RunInstances',
        fault: mode === 'throttle' ? { kind: 'throttle' } : { kind: 'internalError' },
        times: count,
      });
    },
    injectInstanceFailure(_reason, text) {
      emu.proxy.plan({
        action: 'RunInstances',
        fault: { kind: 'error', status: 401, code: 'AuthFailure', message: text },
        times: 1,
      });
    },
    providerProcess(kubeconfig, locationClass, failpoint) {
      return providerCommand({
        kubeconfig,
        locationClass,
        backend: 'aws',
        backendConfig: backendConfig,
        failpoint,
      });
    },
    async cleanup() {
      try {
        // The adopt check retains an instance and adopts it back: the security group released with it must
        // not outlive the adoption (untagged, it would block DeleteVpc on AWS). Groups the suite's live
        // objects still own are tagged; nothing else made groups on this emulator.
        const groups = (await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? [];
        const leaked = groups.filter(
          (g) => g.GroupName !== 'default' && !g.Tags?.some((t) => t.Key === TAG_MANAGED_BY),
        );
        if (leaked.length > 0)
          throw new Error(
            `security groups left untagged on the platform: ${leaked.map((g) => `${g.GroupId} (${g.GroupName})`).join(', ')}`,
          );
      } finally {
        ec2.destroy();
        await backend.close();
        await emu.stop();
      }
    },
  };
}
