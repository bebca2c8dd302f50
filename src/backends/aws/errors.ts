/**
 * AWS SDK errors → BackendError reasons. Called after the SDK's own retries gave up, so every retryable error
 * carries a hint for the reconciler's next attempt. Messages pass through a redactor: no credential value
 * ever reaches an error, a log line or a status condition.
 */
import { BackendError, type BackendErrorReason } from '../../datum/backend.ts';

const THROTTLING = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'EC2ThrottledException',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'PriorRequestNotComplete',
  'BandwidthLimitExceeded',
]);

const QUOTA = new Set([
  'InsufficientInstanceCapacity',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
  'MaxSpotInstanceCountExceeded',
  'VpcLimitExceeded',
  'CidrLimitExceeded',
  'SecurityGroupLimitExceeded',
  'RulesPerSecurityGroupLimitExceeded',
  'InternetGatewayLimitExceeded',
  'NetworkInterfaceLimitExceeded',
  'InsufficientFreeAddressesInSubnet',
  'AddressLimitExceeded',
  'VolumeLimitExceeded',
  'ResourceLimitExceeded',
  'ParameterLimitExceeded',
  'TooManyTagsException',
  'HierarchyLevelLimitExceededException',
]);

const CREDENTIALS = new Set([
  'AuthFailure',
  'UnauthorizedOperation',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'IncompleteSignature',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
  'AccessDenied',
  'AccessDeniedException',
  'OptInRequired',
  'Blocked',
  'PendingVerification',
  'CredentialsProviderError',
]);

const INVALID = new Set([
  'InvalidParameter',
  'InvalidParameterValue',
  'InvalidParameterCombination',
  'MissingParameter',
  'InvalidBlockDeviceMapping',
  'InvalidInstanceType',
  'InvalidUserData.Malformed',
  'InvalidSubnet.Range',
  'InvalidSubnet.Conflict',
  'InvalidVpc.Range',
  'InvalidAMIID.Malformed',
  'InvalidAMIID.NotFound',
  'InvalidAMIID.Unavailable',
  'InvalidAvailabilityZone',
  'IdempotentParameterMismatch',
  'IdempotentInstanceTerminated',
  'ValidationException',
  'ValidationError',
  'InvalidKeyId',
  'ParameterPatternMismatchException',
  'UnsupportedParameterType',
]);

const TRANSIENT_NETWORK = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
]);

export interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/** The AWS error code of an SDK error, or of the SDK error a BackendError was made from. */
export function errorCode(err: unknown): string {
  if (err instanceof BackendError) return (err.cause as { code?: string } | undefined)?.code ?? err.reason;
  const e = err as SdkErrorShape | undefined;
  return e?.name && e.name !== 'Error' ? e.name : (e?.code ?? 'Unknown');
}

export function httpStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

export function isNotFound(err: unknown): boolean {
  const c = errorCode(err);
  return c.endsWith('.NotFound') || c === 'ParameterNotFound' || c === 'NoSuchEntity';
}

/** Replaces every occurrence of each secret (length ≥ 4) with `[redacted]` (the project's placeholder). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

/**
 * Classifies an error. `op` names the AWS operation; `secrets` are values that must not appear in the message.
 * A BackendError passes through unchanged.
 */
export function toBackendError(err: unknown, op: string, secrets: readonly string[] = []): BackendError {
  if (err instanceof BackendError) return err;
  const code = errorCode(err);
  const status = httpStatus(err);
  const raw = (err as SdkErrorShape | undefined)?.message ?? String(err);
  const message = (why: string) => redact(`${op}: ${why}`, secrets);
  const make = (
    reason: BackendErrorReason,
    why: string,
    o: { retryable?: boolean; retryAfterMs?: number } = {},
  ) => new BackendError(reason, message(why), { ...o, cause: scrubbedCause(code, status) });

  if (THROTTLING.has(code)) return make('Throttled', `throttled by AWS (${code})`, { retryAfterMs: 5_000 });
  if (QUOTA.has(code))
    return make('QuotaExceeded', `${code}: ${raw}`, { retryable: true, retryAfterMs: 60_000 });
  // Credential errors are where a key id or token could show up: the message goes through the redactor
  // like every other, and is cut short (UnauthorizedOperation carries a long encoded blob).
  if (CREDENTIALS.has(code) || status === 401 || status === 403)
    return make(
      'CredentialsInvalid',
      `AWS rejected the credentials or their permissions (${code}): ${raw.slice(0, 300)}`,
      {
        retryAfterMs: 60_000,
      },
    );
  if (code === 'Unsupported' || code === 'UnsupportedOperation')
    return make('Unsupported', `${code}: ${raw}`);
  if (INVALID.has(code) || (code.startsWith('Invalid') && status === 400 && !code.endsWith('.NotFound')))
    return make('InvalidConfiguration', `${code}: ${raw}`);
  if (code.endsWith('.NotFound') || code === 'ParameterNotFound') return make('NotFound', `${code}: ${raw}`);
  if (code === 'DependencyViolation' || code.endsWith('InUse') || code === 'IncorrectState')
    return make('DependencyNotReady', `${code}: ${raw}`, { retryAfterMs: 5_000 });
  if (TRANSIENT_NETWORK.has(code) || (status !== undefined && status >= 500))
    return make('Transient', `${code}${status ? ` (HTTP ${status})` : ''}: ${raw}`, { retryAfterMs: 2_000 });
  return make('Transient', `${code}: ${raw}`, { retryAfterMs: 2_000 });
}

/** A cause that keeps the code and status for debugging but not the original error object (and its request). */
function scrubbedCause(code: string, status: number | undefined): { code: string; httpStatusCode?: number } {
  return status === undefined ? { code } : { code, httpStatusCode: status };
}
