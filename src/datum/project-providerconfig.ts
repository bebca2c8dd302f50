/**
 * Per-project credentials: which ProviderConfig serves a project's objects, and which projects a ProviderConfig
 * may serve at all. The project of an object is the name of the cluster it comes from (Milo mode: the Project).
 *
 * A project is mapped to a ProviderConfig by the label `infra.provider-ts.io/provider-config` on its Milo Project,
 * else by `projectProviderConfigs` in the settings; unmapped, its objects are served as before (the
 * ProviderConfig listing the Location, else the default). The mapping only selects: `spec.projects` on a
 * ProviderConfig is the permission. One that lists projects serves only those, whatever selected it, so a
 * project that can label itself still cannot borrow another tenant's account. A refused selection never falls
 * through to a less specific one (that would silently move the project into another account).
 *
 * Pure functions over the ProviderConfig list; the resolver (providerconfig.ts) turns a refusal into an error.
 */
import type { ProviderConfig } from './providerconfig.ts';
import { PROVIDER_GROUP } from './settings.ts';

/** On a Milo Project: the ProviderConfig serving its objects. */
export const PROJECT_PROVIDER_CONFIG_LABEL = `${PROVIDER_GROUP}/provider-config`;

/** Whether a ProviderConfig may serve a project's objects: without `spec.projects` it serves every project. */
export function permitsProject(pc: ProviderConfig, project: string | undefined): boolean {
  const projects = pc.spec.projects;
  if (projects === undefined) return true;
  return project !== undefined && projects.includes(project);
}

/** The ProviderConfig a project is mapped to and by what, or undefined: its Project's label, then the settings. */
export function projectMapping(
  project: string | undefined,
  labels: Readonly<Record<string, string>> | undefined,
  settingsMap: Readonly<Record<string, string>> | undefined,
): { name: string; by: string } | undefined {
  if (project === undefined) return undefined;
  const label = labels?.[PROJECT_PROVIDER_CONFIG_LABEL];
  if (label) return { name: label, by: `the label ${PROJECT_PROVIDER_CONFIG_LABEL} on Project ${project}` };
  const mapped = settingsMap?.[project];
  if (mapped) return { name: mapped, by: `projectProviderConfigs.${project} in the settings` };
  return undefined;
}

/** What serves a project's object in a Location: a ProviderConfig (none: injected identity), or a refusal. */
export type Selection =
  | { pc: ProviderConfig | undefined; by: string }
  | { notPermitted: ProviderConfig; by: string }
  | { missing: string; by: string };

export interface SelectionInput {
  project: string | undefined;
  /** `namespace/name` of the Location, and its city code. */
  location: string;
  city: string | undefined;
  mapping: { name: string; by: string } | undefined;
  defaultName: string;
}

/**
 * In order: the project's mapping; a ProviderConfig listing the Location by name; one listing its city code;
 * the default. Within one rule, a ProviderConfig that lists the project is preferred to one serving every
 * project; a rule matched only by ProviderConfigs that do not permit the project refuses.
 */
export function selectProviderConfig(all: ProviderConfig[], input: SelectionInput): Selection {
  const { project, mapping } = input;
  if (mapping) {
    const pc = all.find((p) => p.metadata.name === mapping.name);
    if (!pc) return { missing: mapping.name, by: mapping.by };
    return permitsProject(pc, project) ? { pc, by: mapping.by } : { notPermitted: pc, by: mapping.by };
  }
  const rules: [string, (p: ProviderConfig) => boolean][] = [
    [`Location ${input.location}`, (p) => !!p.spec.locations?.names?.includes(input.location)],
    [`city code ${input.city}`, (p) => !!input.city && !!p.spec.locations?.cityCodes?.includes(input.city)],
    [`defaultProviderConfig ${input.defaultName}`, (p) => p.metadata.name === input.defaultName],
  ];
  for (const [by, matches] of rules) {
    const found = all.filter(matches);
    if (found.length === 0) continue;
    const pc =
      found.find((p) => project !== undefined && p.spec.projects?.includes(project)) ??
      found.find((p) => permitsProject(p, project));
    return pc ? { pc, by } : { notPermitted: found[0]!, by };
  }
  return { pc: undefined, by: 'no ProviderConfig (injected identity)' };
}

const HOW_TO_MAP = `map the project to a ProviderConfig that lists it in spec.projects (label ${PROJECT_PROVIDER_CONFIG_LABEL} on the Project, or projectProviderConfigs in the settings)`;

/** The refusal's message: names the project and the ProviderConfig, never another project or a credential. */
export function notPermittedMessage(pc: string, project: string | undefined, by: string): string {
  const who = project === undefined ? 'objects without a project' : `project ${project}`;
  return `ProviderConfig ${pc} (selected by ${by}) does not serve ${who}: it is not in its spec.projects; no backend call is made; ${HOW_TO_MAP}`;
}

/** The refusal of a recorded placement whose ProviderConfig no longer lists the project. */
export function recordedNotPermittedMessage(pc: string, project: string | undefined): string {
  return (
    `ProviderConfig ${pc}, with which this resource was created, no longer serves project ${project ?? '(none)'} ` +
    '(not in its spec.projects); no backend call is made for it, teardown included, until it lists the project again'
  );
}
