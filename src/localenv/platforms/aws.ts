/**
 * A local EC2 API (moto behind our fault proxy, idle here) and the AWS backend pointed at it, with the
 * credentials coming the way they would in production: a Secret named by the default ProviderConfig.
 */
import { applyAll } from '../apply.ts';
import type { LocalPlatform, LocalPlatformContext } from './index.ts';
import { defaultProviderConfig } from './provider-config.ts';

export async function startLocalAws({ cp, settings }: LocalPlatformContext): Promise<LocalPlatform> {
  const { startEc2Emulator } = await import('../emulators/moto/index.ts');
  const emu = await startEc2Emulator();
  try {
    await emu.createInstanceProfile('datum-instance');
    await applyAll(
      cp.client(),
      [
        ...defaultProviderConfig(settings, {
          secret: {
            name: 'aws-credentials',
            data: { accessKeyId: 'AKIDLOCALEMULATOR', secretAccessKey: 'local-emulator-secret-key' },
          },
          region: emu.region,
        }),
      ],
      'datum-provider-local',
    );
  } catch (err) {
    await emu.stop();
    throw err;
  }
  settings.backend = 'aws';
  settings.backendConfig = {
    endpoint: emu.endpoint,
    instanceProfile: 'datum-instance',
    // moto accepts any AMI id; a real account maps these to real images (docs/aws.md).
    images: 'datumcloud/ubuntu-2204-lts=ami-0123456789abcdef0#/dev/sda1',
    containerHostImage: 'ami-0fedcba9876543210#/dev/xvda',
    ...settings.backendConfig,
  };
  return {
    lines: [`ec2-endpoint: ${emu.endpoint}`],
    describe: 'EC2 API of a local moto emulator; any access key works',
    stop: () => emu.stop(),
  };
}
