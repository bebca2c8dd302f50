/**
 * The Secret Manager subset the GCP backend's secret delivery uses, served by the proxy (gcplocal ships a Secret
 * Manager module but does not register it): create a secret (labels), add a version, get and access the latest
 * version, list by label filter, delete.
 */
import { gceError, type JsonReply } from './faults.ts';
import { compileFilter } from './realism.ts';
import { ok } from './routes.ts';

interface Secret {
  name: string;
  labels: Record<string, string>;
  versions: string[];
}

const PATH =
  /^\/v1\/projects\/([^/]+)\/secrets(?:\/([^/:]+))?(?::(addVersion))?(?:\/versions\/(latest|\d+)(?::(access))?)?$/;

export class SecretManagerEmulation {
  private readonly secrets = new Map<string, Secret>();

  /** The action name of a Secret Manager path (for the log), or undefined when it is not one. */
  action(method: string, path: string): string | undefined {
    const m = PATH.exec(path);
    if (!m) return undefined;
    if (m[3]) return 'secrets.addVersion';
    if (m[5]) return 'secrets.versions.access';
    if (m[4]) return 'secrets.versions.get';
    if (m[2]) return method === 'DELETE' ? 'secrets.delete' : 'secrets.get';
    return method === 'POST' ? 'secrets.create' : 'secrets.list';
  }

  handle(method: string, url: URL, raw: string): JsonReply {
    const m = PATH.exec(url.pathname)!;
    const [, project, id, add, version, access] = m;
    const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    if (!id) {
      if (method === 'POST') {
        const secretId = url.searchParams.get('secretId') ?? '';
        if (!/^[A-Za-z0-9_-]{1,255}$/.test(secretId))
          return gceError(400, 'badRequest', `invalid secretId ${secretId}`);
        const name = `projects/${project}/secrets/${secretId}`;
        if (this.secrets.has(name)) return gceError(409, 'alreadyExists', `Secret [${name}] already exists.`);
        const s = { name, labels: (body.labels as Record<string, string>) ?? {}, versions: [] };
        this.secrets.set(name, s);
        return ok({ name, labels: s.labels, replication: body.replication });
      }
      const keep = compileFilter(url.searchParams.get('filter')?.replace(/:/g, '=') ?? null);
      const list = [...this.secrets.values()]
        .filter((s) => s.name.startsWith(`projects/${project}/`))
        .map((s) => ({ name: s.name, labels: s.labels }))
        .filter(keep);
      return ok({ secrets: list });
    }
    const name = `projects/${project}/secrets/${id}`;
    const s = this.secrets.get(name);
    if (!s) return gceError(404, 'notFound', `Secret [${name}] not found.`);
    if (add) {
      s.versions.push(String((body.payload as { data?: string } | undefined)?.data ?? ''));
      return ok({ name: `${name}/versions/${s.versions.length}`, state: 'ENABLED' });
    }
    if (version) {
      const n = version === 'latest' ? s.versions.length : Number(version);
      if (n < 1 || n > s.versions.length)
        return gceError(404, 'notFound', `Secret Version [${name}/versions/${version}] not found.`);
      return access
        ? ok({ name: `${name}/versions/${n}`, payload: { data: s.versions[n - 1] } })
        : ok({ name: `${name}/versions/${n}`, state: 'ENABLED' });
    }
    if (method === 'DELETE') {
      this.secrets.delete(name);
      return ok({});
    }
    return ok({ name, labels: s.labels });
  }

  clear(): void {
    this.secrets.clear();
  }
}
