/**
 * The AWS backend's settings: operator-level options (constructor) overlaid by the ProviderConfig's `config`
 * map per call. Maps in the config map are strings: `key=value` pairs separated by commas or newlines, or a
 * JSON object. See docs/aws.md for every key.
 */
import { BackendError } from '../../datum/backend.ts';
import { parseBool, parseIntIn, parseMap } from '../common/config.ts';

export interface ImageRef {
  /** `ami-…` or `resolve:ssm:<public parameter>` (resolved by EC2 at launch, so valid in every region). */
  imageId: string;
  /** Root device of the image, where `diskSizeGiB` applies. */
  rootDevice: string;
}

export interface AwsSettings {
  region: string;
  /** Endpoint override (emulators, VPC endpoints); undefined = the SDK's regional endpoint. */
  endpoint?: string;
  /** Datum image → AMI. */
  images: Record<string, ImageRef>;
  /** Datum instance type → EC2 instance type. */
  instanceTypes: Record<string, string>;
  /** AMI of the host that runs sandbox containers (needs cloud-init, the AWS CLI, and docker or dnf). */
  containerHost: ImageRef;
  containerHostDiskGiB: number;
  /** IAM instance profile (name or ARN) given to instances; required when an instance has secrets. */
  instanceProfile?: string;
  /** Give instances a public IPv4 and networks an internet gateway (feature `externalIP`). */
  assignPublicIp: boolean;
  /** Availability zone for subnets; undefined = let EC2 choose. */
  availabilityZone?: string;
  /** SSM Parameter Store prefix for instance secrets. */
  ssmPrefix: string;
  /** SDK attempts per call (the SDK's own retries, before a BackendError reaches the reconciler). */
  maxAttempts: number;
}

export const DEFAULT_REGION = 'us-east-1';

export const DEFAULT_IMAGES: Record<string, ImageRef> = {
  'datumcloud/ubuntu-2204-lts': {
    imageId: 'resolve:ssm:/aws/service/canonical/ubuntu/server/22.04/stable/current/amd64/hvm/ebs-gp2/ami-id',
    rootDevice: '/dev/sda1',
  },
};

export const DEFAULT_CONTAINER_HOST: ImageRef = {
  imageId: 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64',
  rootDevice: '/dev/xvda',
};

export const DEFAULT_INSTANCE_TYPES: Record<string, string> = { 'datumcloud/d1-standard-2': 'm6i.large' };

/** Operator-level options; every field can also come from the ProviderConfig `config` map. */
export interface AwsBackendOptions {
  region?: string;
  endpoint?: string;
  images?: Record<string, ImageRef | string>;
  instanceTypes?: Record<string, string>;
  containerHost?: ImageRef | string;
  containerHostDiskGiB?: number;
  instanceProfile?: string;
  assignPublicIp?: boolean;
  availabilityZone?: string;
  ssmPrefix?: string;
  maxAttempts?: number;
  /**
   * Value of the `datum.net/managed-by` tag: which provider deployment owns a resource. Two deployments
   * sharing an account must use different values, or their orphan sweeps would see each other's resources.
   */
  managedBy?: string;
}

function invalid(msg: string): BackendError {
  return new BackendError('InvalidConfiguration', msg);
}

/** `ami-1#/dev/xvda` → { imageId, rootDevice }. */
export function parseImageRef(text: string, fallbackDevice = '/dev/sda1'): ImageRef {
  const [imageId, rootDevice] = text.trim().split('#');
  if (!imageId || !(imageId.startsWith('ami-') || imageId.startsWith('resolve:ssm:')))
    throw invalid(
      `image "${text}" must be an AMI id (ami-…) or resolve:ssm:<parameter>, optionally #<root device>`,
    );
  return { imageId, rootDevice: rootDevice || fallbackDevice };
}

function images(src: Record<string, ImageRef | string>): Record<string, ImageRef> {
  return Object.fromEntries(
    Object.entries(src).map(([k, v]) => [k, typeof v === 'string' ? parseImageRef(v) : v]),
  );
}

/** Options + ProviderConfig `config` + the context's region → effective settings. */
export function resolveSettings(
  opts: AwsBackendOptions,
  config: Readonly<Record<string, string>>,
  ctxRegion: string | undefined,
): AwsSettings {
  const s: AwsSettings = {
    region: ctxRegion || config.region || opts.region || process.env.AWS_REGION || DEFAULT_REGION,
    endpoint: config.endpoint || opts.endpoint,
    images: { ...DEFAULT_IMAGES, ...images(opts.images ?? {}) },
    instanceTypes: { ...DEFAULT_INSTANCE_TYPES, ...(opts.instanceTypes ?? {}) },
    containerHost:
      typeof opts.containerHost === 'string'
        ? parseImageRef(opts.containerHost, '/dev/xvda')
        : (opts.containerHost ?? DEFAULT_CONTAINER_HOST),
    containerHostDiskGiB: opts.containerHostDiskGiB ?? 30,
    instanceProfile: opts.instanceProfile,
    assignPublicIp: opts.assignPublicIp ?? true,
    availabilityZone: opts.availabilityZone,
    ssmPrefix: opts.ssmPrefix ?? '/datum-provider',
    maxAttempts: opts.maxAttempts ?? 3,
  };
  if (config.images) Object.assign(s.images, images(parseMap(config.images, 'images')));
  if (config.instanceTypes) Object.assign(s.instanceTypes, parseMap(config.instanceTypes, 'instanceTypes'));
  if (config.containerHostImage) s.containerHost = parseImageRef(config.containerHostImage, '/dev/xvda');
  if (config.containerHostDiskGiB)
    s.containerHostDiskGiB = parseIntIn(config.containerHostDiskGiB, 'containerHostDiskGiB', 8, 16384);
  if (config.instanceProfile) s.instanceProfile = config.instanceProfile;
  if (config.assignPublicIp) s.assignPublicIp = parseBool(config.assignPublicIp, 'assignPublicIp');
  if (config.availabilityZone) s.availabilityZone = config.availabilityZone;
  if (config.ssmPrefix) s.ssmPrefix = config.ssmPrefix;
  if (config.maxAttempts) s.maxAttempts = parseIntIn(config.maxAttempts, 'maxAttempts', 1, 10);
  if (!/^\/[A-Za-z0-9_.\-/]*[A-Za-z0-9_.-]$/.test(s.ssmPrefix))
    throw invalid(`config "ssmPrefix" must be an SSM path like /datum-provider`);
  if (!/^[a-z]{2,4}(-[a-z]+)+-\d+$/.test(s.region))
    throw invalid(`region "${s.region}" is not an AWS region name`);
  return s;
}
