/**
 * Per-project ProviderConfig selection without a cluster: the resolution order (the project's label, its
 * settings mapping, the Location by name, by city code, the default), `spec.projects` as a permission that no
 * selection bypasses, refusals that never fall through to a less specific ProviderConfig, the resolver's
 * errors (reason and message), and the settings' validation of `projectProviderConfigs`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Location } from '../../src/datum/api/types.ts';
import {
  PROJECT_PROVIDER_CONFIG_LABEL,
  permitsProject,
  projectMapping,
  type SelectionInput,
  selectProviderConfig,
} from '../../src/datum/project-providerconfig.ts';
import {
  CredentialsError,
  type ProviderConfig,
  ProviderConfigResolver,
} from '../../src/datum/providerconfig.ts';
import { defaultSettings, parseSettings, SettingsError } from '../../src/datum/settings.ts';
import type { HttpClient } from '../../src/runtime/client/client.ts';
import { silentLogger } from '../../src/runtime/log/logger.ts';

const pc = (name: string, spec: Partial<ProviderConfig['spec']> = {}): ProviderConfig => ({
  metadata: { name },
  spec: { credentials: { source: 'InjectedIdentity' }, ...spec },
});
const input = (over: Partial<SelectionInput> = {}): SelectionInput => ({
  project: 'proj-b',
  location: 'ns/dfw',
  city: 'DFW',
  mapping: undefined,
  defaultName: 'default',
  ...over,
});
const picked = (all: ProviderConfig[], over: Partial<SelectionInput> = {}) => {
  const s = selectProviderConfig(all, input(over));
  if ('pc' in s) return s.pc?.metadata.name ?? '(none)';
  if ('notPermitted' in s) return `refused ${s.notPermitted.metadata.name} (${s.by})`;
  return `missing ${s.missing}`;
};

describe('per-project ProviderConfig selection', () => {
  it('spec.projects: absent serves every project, a list only those (an empty one none)', () => {
    assert.equal(permitsProject(pc('x'), 'p'), true);
    assert.equal(permitsProject(pc('x'), undefined), true);
    assert.equal(permitsProject(pc('x', { projects: ['p'] }), 'p'), true);
    assert.equal(permitsProject(pc('x', { projects: ['p'] }), 'q'), false);
    assert.equal(permitsProject(pc('x', { projects: ['p'] }), undefined), false, 'no project: not permitted');
    assert.equal(permitsProject(pc('x', { projects: [] }), 'p'), false);
  });

  it('the mapping: the Project label first, then the settings', () => {
    const settings = { 'proj-b': 'from-settings' };
    assert.deepEqual(projectMapping('proj-b', { [PROJECT_PROVIDER_CONFIG_LABEL]: 'from-label' }, settings), {
      name: 'from-label',
      by: `the label ${PROJECT_PROVIDER_CONFIG_LABEL} on Project proj-b`,
    });
    assert.deepEqual(projectMapping('proj-b', { other: 'x' }, settings), {
      name: 'from-settings',
      by: 'projectProviderConfigs.proj-b in the settings',
    });
    assert.equal(projectMapping('proj-c', {}, settings), undefined);
    assert.equal(projectMapping(undefined, undefined, settings), undefined);
  });

  it('order: mapping, Location name, city code, default, none', () => {
    const all = [
      pc('default'),
      pc('by-city', { locations: { cityCodes: ['DFW'] } }),
      pc('by-name', { locations: { names: ['ns/dfw'] } }),
      pc('mapped'),
    ];
    const mapping = { name: 'mapped', by: 'test' };
    assert.equal(picked(all, { mapping }), 'mapped', 'the mapping wins over the Location');
    assert.equal(picked(all), 'by-name');
    assert.equal(picked(all.slice(0, 2)), 'by-city');
    assert.equal(picked(all, { location: 'ns/lhr', city: 'LHR' }), 'default');
    assert.equal(picked([pc('other')], { location: 'ns/lhr', city: 'LHR' }), '(none)');
    assert.equal(picked(all, { mapping: { name: 'gone', by: 'test' } }), 'missing gone');
  });

  it("another project's ProviderConfig is refused whatever selects it, and nothing less specific is used", () => {
    const a = pc('tenant-a', { projects: ['proj-a'], locations: { cityCodes: ['DFW'] } });
    const all = [pc('default'), a];
    assert.equal(picked(all), 'refused tenant-a (city code DFW)', 'not the default instead');
    assert.equal(picked(all, { project: 'proj-a' }), 'tenant-a');
    assert.equal(
      picked(all, { mapping: { name: 'tenant-a', by: 'the label' } }),
      'refused tenant-a (the label)',
    );
    assert.equal(
      picked([pc('default', { projects: ['proj-a'] })], { city: 'LHR' }),
      'refused default (defaultProviderConfig default)',
    );
    assert.equal(picked(all, { project: undefined }), 'refused tenant-a (city code DFW)', 'no project');
  });

  it("within one rule, a ProviderConfig listing the project is preferred; another's is skipped for a permitted one", () => {
    const shared = pc('shared-dfw', { locations: { cityCodes: ['DFW'] } });
    const own = pc('own-dfw', { projects: ['proj-b'], locations: { cityCodes: ['DFW'] } });
    const other = pc('a-dfw', { projects: ['proj-a'], locations: { cityCodes: ['DFW'] } });
    assert.equal(picked([shared, other, own]), 'own-dfw');
    assert.equal(picked([other, shared]), 'shared-dfw');
    assert.equal(picked([other, shared], { project: 'proj-a' }), 'a-dfw');
  });
});

/** A home cluster serving the given ProviderConfigs. */
const home = (pcs: ProviderConfig[]): HttpClient =>
  ({
    async list() {
      return { items: pcs };
    },
  }) as unknown as HttpClient;
const LOC: Location = {
  metadata: { name: 'dfw', namespace: 'ns' },
  spec: { locationClassName: 'c', topology: { 'topology.datum.net/city-code': 'DFW' }, provider: {} },
};

describe('the resolver for a project', () => {
  const pcs = [
    pc('tenant-a', { projects: ['proj-a'], locations: { cityCodes: ['DFW'] } }),
    pc('tenant-b', { projects: ['proj-b'] }),
  ];
  const labels: Record<string, Record<string, string>> = {
    'proj-b': { [PROJECT_PROVIDER_CONFIG_LABEL]: 'tenant-b' },
    'proj-x': { [PROJECT_PROVIDER_CONFIG_LABEL]: 'tenant-a' },
  };
  const resolver = new ProviderConfigResolver(
    home(pcs),
    { ...defaultSettings(), projectProviderConfigs: { 'proj-y': 'nope' } },
    undefined,
    { log: silentLogger, projectLabels: (p) => labels[p] },
  );

  it('reads the label through the cluster metadata, and refuses with ProviderConfigNotPermitted', async () => {
    assert.equal((await resolver.select(LOC, 'proj-a'))?.metadata.name, 'tenant-a');
    assert.equal((await resolver.select(LOC, 'proj-b'))?.metadata.name, 'tenant-b', 'label over city code');
    const err = await resolver.select(LOC, 'proj-x').catch((e) => e);
    assert.ok(err instanceof CredentialsError);
    assert.equal(err.reason, 'ProviderConfigNotPermitted');
    assert.match(
      err.message,
      new RegExp(
        `^ProviderConfig tenant-a \\(selected by the label ${PROJECT_PROVIDER_CONFIG_LABEL} on Project proj-x\\) does not serve project proj-x`,
      ),
    );
    assert.doesNotMatch(err.message, /proj-a/, "another project's name is never shown");
    const viaLocation = await resolver.forLocation(LOC, 'proj-c').catch((e) => e);
    assert.equal(viaLocation.reason, 'ProviderConfigNotPermitted');
    assert.match(viaLocation.message, /selected by city code DFW/);
  });

  it('a mapping to a missing ProviderConfig is CredentialsUnavailable naming both', async () => {
    const err = await resolver.select(LOC, 'proj-y').catch((e) => e);
    assert.equal(err.reason, 'CredentialsUnavailable');
    assert.match(
      err.message,
      /project proj-y is mapped to ProviderConfig nope \(by projectProviderConfigs\.proj-y/,
    );
  });

  it('a recorded ProviderConfig is checked again: one that no longer lists the project is refused', async () => {
    assert.equal((await resolver.getFor('tenant-a', 'proj-a'))?.metadata.name, 'tenant-a');
    const err = await resolver.getFor('tenant-a', 'proj-b').catch((e) => e);
    assert.equal(err.reason, 'ProviderConfigNotPermitted');
    assert.match(
      err.message,
      /ProviderConfig tenant-a, with which this resource was created, no longer serves project proj-b/,
    );
    assert.equal(await resolver.permits('tenant-b', 'proj-a'), false);
    assert.equal(await resolver.permits('tenant-b', 'proj-b'), true);
    assert.equal(await resolver.permits('(none)', 'proj-a'), true, 'injected identity: no ProviderConfig');
    assert.equal(await resolver.permits('missing', 'proj-a'), false);
  });
});

describe('settings: projectProviderConfigs', () => {
  const HEAD = 'apiVersion: infra.provider-ts.io/v1alpha1\nkind: ProviderSettings\n';
  const parse = (body: string) => parseSettings(HEAD + body, 'settings.yaml');
  const rejects = (body: string, message: RegExp) =>
    assert.throws(
      () => parse(body),
      (err: unknown) => err instanceof SettingsError && message.test(err.message),
    );

  it('accepts project -> ProviderConfig names', () => {
    const s = parse('projectProviderConfigs:\n  proj-a: tenant-a\n  proj-b.example: tenant-b\n');
    assert.deepEqual(s.projectProviderConfigs, { 'proj-a': 'tenant-a', 'proj-b.example': 'tenant-b' });
    assert.equal(parse('').projectProviderConfigs, undefined);
  });

  it('rejects what cannot be a project or a ProviderConfig, naming the field', () => {
    rejects('projectProviderConfigs: [a, b]\n', /settings\.yaml: projectProviderConfigs must be a mapping/);
    rejects(
      'projectProviderConfigs:\n  proj-a: 3\n',
      /projectProviderConfigs\.proj-a must be a string, not 3/,
    );
    rejects(
      'projectProviderConfigs:\n  Proj_A: tenant-a\n',
      /projectProviderConfigs: 'Proj_A' is not a project name/,
    );
    rejects(
      'projectProviderConfigs:\n  proj-a: Tenant A\n',
      /projectProviderConfigs\.proj-a: 'Tenant A' is not a ProviderConfig name/,
    );
  });
});
