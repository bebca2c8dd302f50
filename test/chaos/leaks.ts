/**
 * Secret leak scan: the known values of env.ts SECRETS (and their base64 forms, as files travel base64
 * encoded) must not occur in the provider's output, in Events, or in any status.
 */

import { readFileSync } from 'node:fs';
import { INSTANCE, LOCATION, NETWORK, NETWORK_CONTEXT, SUBNET } from '../../src/datum/api/resources.ts';
import { PROVIDER_CONFIG } from '../../src/datum/providerconfig.ts';
import type { KubeObject } from '../../src/runtime/client/types.ts';
import { EVENT_RESOURCE } from '../../src/runtime/util/events.ts';
import { type ChaosEnv, SECRETS, type Site } from './env.ts';
import { log } from './stats.ts';

/** Each secret as text, and the stretch of its base64 encoding that is the same at any byte alignment. */
function forms(): string[] {
  const out = new Set<string>();
  for (const s of Object.values(SECRETS)) {
    out.add(s);
    for (let k = 0; k < 3; k++) {
      const b64 = Buffer.from('x'.repeat(k) + s).toString('base64');
      out.add(b64.slice(k === 0 ? 0 : 4, -4));
    }
  }
  return [...out];
}

const FORMS = forms();

export function countSecrets(text: string): number {
  let n = 0;
  for (const f of FORMS) n += text.split(f).length - 1;
  return n;
}

/** Counts secret values in the status of every object of the site (call while the objects exist). */
export async function scanStatuses(env: ChaosEnv, site: Site, scope: string): Promise<number> {
  const kinds = [INSTANCE, NETWORK_CONTEXT, SUBNET, NETWORK, LOCATION];
  let n = 0;
  for (const r of kinds) {
    const list = await env.client.list<KubeObject>(r, { namespace: site.ns });
    n += count(
      env,
      `${scope}: ${r.kind} status`,
      list.items.map((o) => JSON.stringify(o.status ?? {})).join('\n'),
    );
  }
  const pcs = await env.client.list<KubeObject>(PROVIDER_CONFIG);
  n += count(
    env,
    `${scope}: ProviderConfig status`,
    pcs.items.map((o) => JSON.stringify(o.status ?? {})).join('\n'),
  );
  return n;
}

/** The provider's whole output over every run. */
export function scanLog(env: ChaosEnv, path: string, scope: string): number {
  const text = readFileSync(path, 'utf8');
  log(`${scope}: scanning ${(text.length / 1e6).toFixed(1)} MB of provider output for secrets`);
  return count(env, `${scope}: provider output`, text);
}

/** Every Event in the cluster. */
export async function scanEvents(env: ChaosEnv, scope: string): Promise<number> {
  const events = await env.client.list<KubeObject>(EVENT_RESOURCE);
  log(`${scope}: scanning ${events.items.length} Events for secrets`);
  return count(env, `${scope}: Events`, JSON.stringify(events.items));
}

function count(env: ChaosEnv, where: string, text: string): number {
  const n = countSecrets(text);
  if (n > 0) {
    env.stats.leakedSecrets += n;
    const at = FORMS.map((f) => text.indexOf(f)).find((i) => i >= 0) ?? 0;
    let example = text.slice(Math.max(0, at - 120), at + 60);
    for (const f of FORMS) example = example.split(f).join('<SECRET>');
    env.stats.fail(where, `${n} secret occurrences, e.g. …${example}…`);
  }
  return n;
}
