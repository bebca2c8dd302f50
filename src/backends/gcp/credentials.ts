/**
 * Credentials → an auth client. Production: a service-account key JSON from the ProviderConfig Secret
 * (`serviceAccountKey`), or injected identity (workload identity / ADC). Emulator (a plain-http loopback
 * endpoint): a pass-through client that sends no token. The key is parsed here and never logged.
 */
import { GoogleAuth, PassThroughClient } from 'google-auth-library';
import { BackendError, type Credentials } from '../../datum/backend.ts';

export const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

export interface ServiceAccountKey {
  type: string;
  project_id?: string;
  client_email: string;
  private_key: string;
}

/** Every value of the Secret and of its key: what must never appear in an error. */
export function secretValues(creds: Credentials): string[] {
  if (creds.source !== 'Secret') return [];
  const out = Object.values(creds.data);
  try {
    const k = JSON.parse(creds.data.serviceAccountKey ?? '') as Record<string, unknown>;
    for (const v of Object.values(k)) if (typeof v === 'string' && v.length >= 12) out.push(v);
  } catch {}
  return out;
}

/** The key from the Secret, or undefined when there is none; a malformed key is CredentialsInvalid. */
export function parseKey(creds: Credentials): ServiceAccountKey | undefined {
  if (creds.source !== 'Secret' || creds.data.serviceAccountKey === undefined) return undefined;
  let k: Partial<ServiceAccountKey>;
  try {
    k = JSON.parse(creds.data.serviceAccountKey) as Partial<ServiceAccountKey>;
  } catch {
    throw new BackendError(
      'CredentialsInvalid',
      'Secret key "serviceAccountKey" is not valid JSON (a service-account key file)',
      {
        retryAfterMs: 60_000,
      },
    );
  }
  if (
    k?.type !== 'service_account' ||
    typeof k.client_email !== 'string' ||
    typeof k.private_key !== 'string'
  )
    throw new BackendError(
      'CredentialsInvalid',
      'Secret key "serviceAccountKey" is not a service-account key (needs type service_account, client_email, private_key)',
      { retryAfterMs: 60_000 },
    );
  return k as ServiceAccountKey;
}

export function authClient(
  creds: Credentials,
  emulator: boolean,
): { auth: unknown; key?: ServiceAccountKey } {
  const key = parseKey(creds);
  if (emulator) return { auth: new PassThroughClient(), key };
  if (creds.source === 'Secret') {
    if (!key)
      throw new BackendError(
        'CredentialsInvalid',
        'the credentials Secret has no "serviceAccountKey" (a service-account key JSON)',
        {
          retryAfterMs: 60_000,
        },
      );
    return { auth: new GoogleAuth({ credentials: key, scopes: SCOPES }), key };
  }
  return { auth: new GoogleAuth({ scopes: SCOPES }) };
}
