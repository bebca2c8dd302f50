/**
 * Turns an InstanceDesired into a RunInstances request and its launch-spec hash. The hash covers everything
 * that needs a relaunch to change (AMI, type, user data, disk, subnets, profile, secret versions); a change
 * replaces the instance. The ClientToken is derived from (instance id, spec hash, attempt), so a retry of
 * the same launch is idempotent on AWS and a new spec gets a new token.
 */
import { createHash } from 'node:crypto';
import type { RunInstancesCommandInput, Tag } from '@aws-sdk/client-ec2';
import { BackendError, type InstanceDesired } from '../../datum/backend.ts';
import type { SecretRef } from './secrets.ts';
import type { AwsSettings } from './settings.ts';
import { TAG_SPEC, tagSpecs } from './tags.ts';
import { buildUserData } from './userdata.ts';

export interface LaunchPlan {
  specHash: string;
  input: Omit<RunInstancesCommandInput, 'ClientToken'>;
}

export interface PlacedInterface {
  subnetId: string;
  groupId: string;
}

/** EC2 type and image for a desired instance; Unsupported for anything outside the maps. */
export function resolveTypeAndImage(
  settings: AwsSettings,
  d: InstanceDesired,
): { instanceType: string; imageId: string; rootDevice: string; diskGiB: number } {
  const instanceType = settings.instanceTypes[d.instanceType];
  if (!instanceType)
    throw new BackendError(
      'Unsupported',
      `instance type ${d.instanceType} is not in the AWS instance type map (known: ${Object.keys(settings.instanceTypes).join(', ')})`,
    );
  if (d.runtime.kind === 'virtualMachine') {
    const image = settings.images[d.runtime.image];
    if (!image)
      throw new BackendError(
        'Unsupported',
        `image ${d.runtime.image} is not in the AWS image map (known: ${Object.keys(settings.images).join(', ')})`,
      );
    return {
      instanceType,
      imageId: image.imageId,
      rootDevice: image.rootDevice,
      diskGiB: d.runtime.diskSizeGiB,
    };
  }
  return {
    instanceType,
    imageId: settings.containerHost.imageId,
    rootDevice: settings.containerHost.rootDevice,
    diskGiB: settings.containerHostDiskGiB,
  };
}

export function planLaunch(
  settings: AwsSettings,
  d: InstanceDesired,
  o: { interfaces: PlacedInterface[]; refs: SecretRef[]; secretVersions: string[]; tags: Tag[] },
): LaunchPlan {
  const { instanceType, imageId, rootDevice, diskGiB } = resolveTypeAndImage(settings, d);
  if (o.refs.length > 0 && !settings.instanceProfile)
    throw new BackendError(
      'InvalidConfiguration',
      'this instance has secrets, which it reads from SSM with an instance profile: set the "instanceProfile" config',
    );
  const userData = buildUserData(d, o.refs, settings.region);
  // AWS accepts a public IP only on a launch with a single interface.
  const publicIp = settings.assignPublicIp && o.interfaces.length === 1;
  const profile = settings.instanceProfile;
  const specHash = createHash('sha256')
    .update(
      JSON.stringify({
        imageId,
        instanceType,
        rootDevice,
        diskGiB,
        userData,
        subnets: o.interfaces.map((i) => i.subnetId),
        publicIp,
        profile: profile ?? '',
        secrets: o.secretVersions,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const tags = [...o.tags, { Key: TAG_SPEC, Value: specHash }];
  return {
    specHash,
    input: {
      ImageId: imageId,
      InstanceType: instanceType as RunInstancesCommandInput['InstanceType'],
      MinCount: 1,
      MaxCount: 1,
      UserData: userData,
      NetworkInterfaces: o.interfaces.map((i, DeviceIndex) => ({
        DeviceIndex,
        SubnetId: i.subnetId,
        Groups: [i.groupId],
        DeleteOnTermination: true,
        ...(publicIp ? { AssociatePublicIpAddress: true } : {}),
      })),
      BlockDeviceMappings: [
        {
          DeviceName: rootDevice,
          Ebs: { VolumeSize: diskGiB, VolumeType: 'gp3', DeleteOnTermination: true, Encrypted: true },
        },
      ],
      IamInstanceProfile: profile
        ? profile.startsWith('arn:')
          ? { Arn: profile }
          : { Name: profile }
        : undefined,
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled' },
      TagSpecifications: tagSpecs(['instance', 'volume', 'network-interface'], tags),
    },
  };
}

/** Deterministic ClientToken (≤ 64 ASCII characters as AWS requires). */
export function clientToken(instanceId: string, specHash: string, attempt: number): string {
  return `datum-${createHash('sha256').update(`${instanceId}\0${specHash}\0${attempt}`).digest('hex').slice(0, 40)}`;
}
