/**
 * What runs on the machine, as cloud-init user-data in the instance metadata (GCE images and
 * Container-Optimized OS run cloud-init): a sandbox's containers become systemd units running `docker run`
 * (host network, files bind-mounted read-only, env from a file); a VM's files are written in place.
 * Sensitive content (from Secrets) never goes into metadata: it goes through a `SecretDelivery`, and without
 * one it is refused (Unsupported).
 * A sandbox's env file is written at boot before the fetched env lines are appended to it.
 */
import { stringify } from 'yaml';
import {
  BackendError,
  type ContainerDesired,
  type FileContent,
  type RuntimeDesired,
} from '../../datum/backend.ts';

/** One sensitive value and where it goes on the machine: a file, or a line of a container's env file. */
export interface SecretItem {
  /** base64 */
  data: string;
  dest: { path: string; mode?: number } | { envFile: string; name: string };
}

/** What a delivery needs from the reconcile: the project and authenticated requests to Google APIs. */
export interface DeliveryContext {
  project: string;
  managedBy: string;
  /** Sends a JSON request to a Google API (`path` from its root, e.g. `/v1/projects/…`); returns the body. */
  request<T>(api: 'secretmanager', method: string, path: string, body?: unknown): Promise<T>;
  /** A service account is attached to instances (they need one to read secrets at boot). */
  serviceAccount?: string;
}

/**
 * Delivers sensitive files and env to an instance out of band (e.g. Secret Manager, read at boot with the
 * instance's service account). Returns cloud-config fragments that fetch them at boot, before containers start.
 */
export interface SecretDelivery {
  readonly name: string;
  stage(
    c: DeliveryContext,
    instance: string,
    items: SecretItem[],
  ): Promise<{ writeFiles: unknown[]; runcmd: string[] }>;
  remove(c: DeliveryContext, instance: string): Promise<void>;
}

const unit = (c: ContainerDesired, mounts: string[]) =>
  [
    '[Unit]',
    `Description=Datum container ${c.name}`,
    'Wants=network-online.target',
    'After=network-online.target docker.service',
    '[Service]',
    `ExecStartPre=-/usr/bin/docker rm -f datum-${c.name}`,
    `ExecStart=/usr/bin/docker run --rm --name datum-${c.name} --network host --env-file /var/lib/datum/${c.name}/env ${mounts.join(' ')} ${c.image}`,
    `ExecStop=/usr/bin/docker stop datum-${c.name}`,
    'Restart=always',
    'RestartSec=5',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');

const fileEntry = (path: string, data: string, mode?: number) => ({
  path,
  encoding: 'b64',
  content: data,
  permissions: `0${((mode ?? 0o644) & 0o777).toString(8)}`,
});

/** The sensitive values of a runtime and where each goes. */
export function sensitiveItems(runtime: RuntimeDesired): SecretItem[] {
  if (runtime.kind === 'virtualMachine')
    return runtime.files
      .filter((f) => f.sensitive)
      .map((f) => ({ data: f.data, dest: { path: f.path, mode: f.mode } }));
  return runtime.containers.flatMap((c) => [
    ...c.env
      .filter((e) => e.sensitive)
      .map((e) => ({
        data: Buffer.from(e.value).toString('base64'),
        dest: { envFile: `/var/lib/datum/${c.name}/env`, name: e.name },
      })),
    ...c.files
      .filter((f) => f.sensitive)
      .map((f) => ({
        data: f.data,
        dest: { path: `/var/lib/datum/${c.name}/files${f.path}`, mode: f.mode },
      })),
  ]);
}

export function refuseSensitive(runtime: RuntimeDesired): void {
  const files: FileContent[] =
    runtime.kind === 'sandbox' ? runtime.containers.flatMap((c) => c.files) : runtime.files;
  const env = runtime.kind === 'sandbox' ? runtime.containers.flatMap((c) => c.env) : [];
  const n = files.filter((f) => f.sensitive).length + env.filter((e) => e.sensitive).length;
  if (n > 0)
    throw new BackendError(
      'Unsupported',
      `${n} file(s)/env value(s) come from Secrets; this GCP backend has no secret delivery configured (it never puts Secret content in instance metadata)`,
    );
}

/** The cloud-config user-data for a runtime (sensitive content already refused or staged). */
export function userData(
  runtime: RuntimeDesired,
  extra?: { writeFiles: unknown[]; runcmd: string[] },
): string {
  const writeFiles: unknown[] = [];
  const runcmd: string[] = [];
  if (runtime.kind === 'sandbox') {
    for (const c of runtime.containers) {
      if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(c.name))
        throw new BackendError('InvalidConfiguration', `container name "${c.name}" is not a DNS label`);
      const dir = `/var/lib/datum/${c.name}`;
      const env = c.env.filter((e) => !e.sensitive).map((e) => `${e.name}=${e.value.replace(/\n/g, ' ')}`);
      writeFiles.push(fileEntry(`${dir}/env`, Buffer.from(`${env.join('\n')}\n`).toString('base64'), 0o600));
      const mounts: string[] = [];
      for (const f of c.files) {
        // Sensitive files are fetched to the same place at boot (see SecretDelivery), before the unit starts.
        if (!f.sensitive) writeFiles.push(fileEntry(`${dir}/files${f.path}`, f.data, f.mode));
        mounts.push(`-v ${dir}/files${f.path}:${f.path}:ro`);
      }
      writeFiles.push({ path: `/etc/systemd/system/datum-${c.name}.service`, content: unit(c, mounts) });
    }
    runcmd.push('systemctl daemon-reload');
    for (const c of runtime.containers) runcmd.push(`systemctl start datum-${c.name}.service`);
  } else {
    for (const f of runtime.files.filter((x) => !x.sensitive))
      writeFiles.push(fileEntry(f.path, f.data, f.mode));
  }
  writeFiles.push(...(extra?.writeFiles ?? []));
  runcmd.unshift(...(extra?.runcmd ?? []));
  const doc: Record<string, unknown> = { write_files: writeFiles };
  if (runcmd.length) doc.runcmd = runcmd;
  return `#cloud-config\n${stringify(doc, { lineWidth: 0, blockQuote: 'literal' })}`;
}
