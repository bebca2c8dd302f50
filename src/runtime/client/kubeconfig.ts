/**
 * Reading kubeconfig files the way kubectl does. `--kubeconfig` names one file, which must exist; otherwise
 * $KUBECONFIG may list several (separated by ':'; ';' on Windows), missing ones skipped, merged in order: for
 * clusters, users and contexts the first file to define a name wins, and current-context comes from the first
 * file that sets it; without $KUBECONFIG, ~/.kube/config. Every entry remembers the file it came from, because
 * relative paths in it are relative to that file's directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { KubeconfigError } from './errors.ts';

export interface KubeconfigEntry<T> {
  name: string;
  value: T;
  /** Absolute path of the file that defined it. */
  origin: string;
}

export interface KubeconfigContext {
  cluster: string;
  user: string;
  namespace?: string;
}

export interface MergedKubeconfig {
  /** The files read, in merge order (for messages). */
  files: string[];
  currentContext?: string;
  clusters: Map<string, KubeconfigEntry<Record<string, unknown>>>;
  users: Map<string, KubeconfigEntry<Record<string, unknown>>>;
  contexts: Map<string, KubeconfigEntry<KubeconfigContext>>;
}

export interface KubeconfigFile {
  path: string;
  doc: unknown;
}

/**
 * The files kubectl would read, in order, and whether they were named explicitly (then each must exist).
 * Empty entries of $KUBECONFIG are ignored and duplicates read once, as client-go does.
 */
export function kubeconfigPaths(
  explicit?: string,
  env: string | undefined = process.env.KUBECONFIG,
): { paths: string[]; explicit: boolean } {
  if (explicit) return { paths: [resolve(explicit)], explicit: true };
  const fromEnv = [...new Set((env ?? '').split(delimiter).filter(Boolean))].map((p) => resolve(p));
  if (fromEnv.length > 0) return { paths: fromEnv, explicit: false };
  return { paths: [join(homedir(), '.kube', 'config')], explicit: true };
}

/** The first file kubectl would read: $KUBECONFIG's first entry, else ~/.kube/config (for messages). */
export function defaultKubeconfigPath(): string {
  return kubeconfigPaths().paths[0] ?? join(homedir(), '.kube', 'config');
}

/** Parses one file's text; a document that is not a mapping is an error (kubectl refuses it too). */
export function parseKubeconfig(text: string, path: string): unknown {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new KubeconfigError(
      `kubeconfig ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new KubeconfigError(`kubeconfig ${path} is not a kubeconfig (expected a mapping at the top)`);
  return doc;
}

function entries<T>(
  doc: Record<string, unknown>,
  list: 'clusters' | 'users' | 'contexts',
  field: 'cluster' | 'user' | 'context',
  path: string,
): KubeconfigEntry<T>[] {
  const raw = doc[list];
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new KubeconfigError(`kubeconfig ${path}: '${list}' must be a list`);
  return raw.map((e, i) => {
    const name = (e as { name?: unknown })?.name;
    if (typeof name !== 'string' || !name)
      throw new KubeconfigError(`kubeconfig ${path}: ${list}[${i}] has no name`);
    const value = (e as Record<string, unknown>)[field] ?? {};
    if (typeof value !== 'object' || Array.isArray(value))
      throw new KubeconfigError(
        `kubeconfig ${path}: ${list}[${i}] ('${name}'): '${field}' must be a mapping`,
      );
    return { name, value: value as T, origin: path };
  });
}

/** Merges parsed files in kubectl's order: the first definition of each name wins, and the first current-context. */
export function mergeKubeconfigs(files: KubeconfigFile[]): MergedKubeconfig {
  const merged: MergedKubeconfig = {
    files: files.map((f) => f.path),
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
  };
  for (const { path, doc } of files) {
    const d = (doc ?? {}) as Record<string, unknown>;
    const cc = d['current-context'];
    if (merged.currentContext === undefined && typeof cc === 'string' && cc) merged.currentContext = cc;
    const add = <T>(map: Map<string, KubeconfigEntry<T>>, list: KubeconfigEntry<T>[]) => {
      for (const e of list) if (!map.has(e.name)) map.set(e.name, e);
    };
    add(merged.clusters, entries(d, 'clusters', 'cluster', path));
    add(merged.users, entries(d, 'users', 'user', path));
    add(merged.contexts, entries<KubeconfigContext>(d, 'contexts', 'context', path));
  }
  return merged;
}

/** Reads and merges the kubeconfig files kubectl would use (see kubeconfigPaths). */
export function readKubeconfigs(explicit?: string, env?: string): MergedKubeconfig {
  const { paths, explicit: mustExist } = kubeconfigPaths(explicit, env ?? process.env.KUBECONFIG);
  const present = paths.filter((p) => existsSync(p));
  if (mustExist && present.length < paths.length)
    throw new KubeconfigError(`kubeconfig not found at ${paths[0]}`);
  if (present.length === 0)
    throw new KubeconfigError(
      `kubeconfig not found: none of the KUBECONFIG files exist (${paths.join(delimiter)})`,
    );
  return mergeKubeconfigs(
    present.map((path) => ({ path, doc: parseKubeconfig(readFileSync(path, 'utf8'), path) })),
  );
}
