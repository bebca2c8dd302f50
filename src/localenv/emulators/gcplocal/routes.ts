/** The Compute API paths the proxy understands, and the action names fault rules use. */
import type { JsonReply } from './faults.ts';
import type { OpScope } from './operations.ts';

export interface Route {
  project: string;
  kind: 'zones' | 'regions' | 'global' | 'aggregated';
  scope?: string;
  collection: string;
  name?: string;
  verb?: string;
}

export const ROUTE =
  /^\/compute\/v1\/projects\/([^/]+)\/(?:(zones|regions)\/([^/]+)|(global)|(aggregated))\/([A-Za-z]+)(?:\/([^/]+))?(?:\/([A-Za-z]+))?$/;

export function parseRoute(path: string): Route | undefined {
  const m = ROUTE.exec(path);
  if (!m) return undefined;
  const kind = (m[2] ?? m[4] ?? m[5]) as Route['kind'];
  return { project: m[1]!, kind, scope: m[3], collection: m[6]!, name: m[7], verb: m[8] };
}

export function actionOf(r: Route | undefined, method: string, path: string): string {
  if (!r) return `${method} ${path}`;
  const coll =
    r.collection === 'operations'
      ? `${r.kind === 'zones' ? 'zone' : r.kind === 'regions' ? 'region' : 'global'}Operations`
      : r.collection;
  if (r.kind === 'aggregated') return `${coll}.aggregatedList`;
  if (r.verb) return `${coll}.${r.verb}`;
  if (r.name)
    return `${coll}.${{ GET: 'get', DELETE: 'delete', PATCH: 'patch', PUT: 'update' }[method] ?? method}`;
  return `${coll}.${method === 'POST' ? 'insert' : 'list'}`;
}

export const ok = (body: unknown): JsonReply => ({
  status: 200,
  headers: { 'content-type': 'application/json; charset=UTF-8' },
  body: JSON.stringify(body),
});

export const scopePath = (r: Route) =>
  `/compute/v1/projects/${r.project}/${r.kind === 'global' ? 'global' : `${r.kind}/${r.scope}`}`;

export const opScope = (r: Route): OpScope =>
  r.kind === 'zones' ? { zone: r.scope } : r.kind === 'regions' ? { region: r.scope } : {};
