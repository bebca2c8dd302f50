/**
 * Sensitive files and env through Secret Manager: one secret per value (named after the instance and a hash of
 * the value and its destination, so a changed value is a new secret and staging is idempotent), labelled with
 * the installation and instance; a boot script reads them with the instance's service account (metadata server
 * token) before the containers start. Nothing sensitive is in the metadata, only secret names.
 */
import { createHash } from 'node:crypto';
import { BackendError } from '../../datum/backend.ts';
import { isAlreadyExists, isNotFound } from './errors.ts';
import { LABEL_INSTALLATION, labelValue } from './names.ts';
import type { DeliveryContext, SecretDelivery, SecretItem } from './startup.ts';

/** The HTTP status behind a BackendError (its cause keeps it) or a raw error. */
const statusOf = (err: unknown) =>
  err instanceof BackendError ? (err.cause as { status?: number } | undefined)?.status : undefined;

const LABEL_INSTANCE = 'datum-instance';
const SCRIPT = '/var/lib/datum/fetch-secrets.sh';

export class SecretManagerDelivery implements SecretDelivery {
  readonly name = 'secretManager';

  async stage(
    c: DeliveryContext,
    instance: string,
    items: SecretItem[],
  ): Promise<{ writeFiles: unknown[]; runcmd: string[] }> {
    if (!c.serviceAccount)
      throw new BackendError(
        'InvalidConfiguration',
        'secrets go through Secret Manager: set config "serviceAccount" (the instances read them with it)',
      );
    const lines = [
      '#!/bin/sh',
      'set -eu',
      'TOKEN=$(curl -sf -H "Metadata-Flavor: Google" http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token | sed -E \'s/.*"access_token" *: *"([^"]+)".*/\\1/\')',
      'fetch() { curl -sf -H "Authorization: Bearer $TOKEN" "https://secretmanager.googleapis.com/v1/$1/versions/latest:access" | sed -E \'s/.*"data" *: *"([^"]+)".*/\\1/\' | base64 -d; }',
    ];
    for (const item of items) {
      const dest = JSON.stringify(item.dest);
      const id = `${instance}-${createHash('sha256').update(`${dest}\n${item.data}`).digest('hex').slice(0, 16)}`;
      const name = `projects/${c.project}/secrets/${id}`;
      await this.ensureSecret(c, id, name, instance, item.data);
      if ('envFile' in item.dest)
        lines.push(`printf '%s=%s\\n' '${item.dest.name}' "$(fetch ${name})" >> ${item.dest.envFile}`);
      else {
        const dir = item.dest.path.replace(/\/[^/]*$/, '') || '/';
        lines.push(`mkdir -p '${dir}'`, `fetch ${name} > '${item.dest.path}'`);
        lines.push(`chmod ${((item.dest.mode ?? 0o600) & 0o777).toString(8)} '${item.dest.path}'`);
      }
    }
    return {
      writeFiles: [{ path: SCRIPT, permissions: '0700', content: `${lines.join('\n')}\n` }],
      runcmd: [`sh ${SCRIPT}`],
    };
  }

  private async ensureSecret(
    c: DeliveryContext,
    id: string,
    name: string,
    instance: string,
    data: string,
  ): Promise<void> {
    try {
      await c.request('secretmanager', 'POST', `/v1/projects/${c.project}/secrets?secretId=${id}`, {
        replication: { automatic: {} },
        labels: { [LABEL_INSTALLATION]: labelValue(c.managedBy), [LABEL_INSTANCE]: instance },
      });
    } catch (err) {
      if (!isAlreadyExists(err) && statusOf(err) !== 409) throw err;
    }
    try {
      await c.request('secretmanager', 'GET', `/v1/${name}/versions/latest`);
      return; // staged before
    } catch (err) {
      if (!isNotFound(err) && statusOf(err) !== 404) throw err;
    }
    await c.request('secretmanager', 'POST', `/v1/${name}:addVersion`, { payload: { data } });
  }

  async remove(c: DeliveryContext, instance: string): Promise<void> {
    const filter = `labels.${LABEL_INSTANCE}:${instance} AND labels.${LABEL_INSTALLATION}:${labelValue(c.managedBy)}`;
    const list = await c.request<{ secrets?: { name: string }[] }>(
      'secretmanager',
      'GET',
      `/v1/projects/${c.project}/secrets?filter=${encodeURIComponent(filter)}`,
    );
    for (const s of list.secrets ?? [])
      try {
        await c.request('secretmanager', 'DELETE', `/v1/${s.name}`);
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
      }
  }
}
