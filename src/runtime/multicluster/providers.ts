/**
 * Where clusters come from. `single`: one cluster, engaged at start. `milo`: Datum's project discovery —
 * watch `Project` objects in a discovery cluster, engage each project's control plane once the Project is
 * Ready, disengage it when the Project is deleted or stops being Ready. The Project's labels and annotations
 * travel with the engaged cluster (`Cluster.metadata`, kept current) for the application to interpret.
 */

import { Cache } from '../cache/cache.ts';
import type { Informer } from '../cache/informer.ts';
import { createClient } from '../client/client.ts';
import type { ClusterConfig } from '../client/config.ts';
import type { KubeObject, ResourceType } from '../client/types.ts';
import type { ClusterMetadata } from '../manager/cluster.ts';
import type { Manager } from '../manager/manager.ts';
import { isConditionTrue } from '../util/conditions.ts';

export const PROJECT: ResourceType = {
  group: 'resourcemanager.miloapis.com',
  version: 'v1alpha1',
  kind: 'Project',
  plural: 'projects',
  namespaced: false,
};

export async function engageSingle(mgr: Manager, config: ClusterConfig, name = 'single'): Promise<void> {
  await mgr.engage(name, config);
}

export interface MiloDiscoveryOptions {
  discovery: ClusterConfig;
  labelSelector?: string;
  /** How to reach a project's control plane; default: discovery host + the Project control-plane path. */
  projectConfig?: (project: KubeObject, discovery: ClusterConfig) => ClusterConfig;
}

export function miloProjectConfig(project: KubeObject, discovery: ClusterConfig): ClusterConfig {
  const base = discovery.server.replace(/\/+$/, '');
  return {
    ...discovery,
    server: `${base}/apis/resourcemanager.miloapis.com/v1alpha1/projects/${project.metadata.name}/control-plane`,
  };
}

/** Whether discovery engages a Project: Ready and not being deleted. */
export function projectReady(project: KubeObject): boolean {
  return !project.metadata.deletionTimestamp && isConditionTrue(project.status?.conditions, 'Ready');
}

/** A runnable that keeps the manager's engaged clusters equal to the Ready projects. */
export class MiloDiscovery {
  readonly needLeaderElection = false;
  private readonly mgr: Manager;
  private readonly opts: MiloDiscoveryOptions;
  private informer: Informer | undefined;
  private cache: Cache | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(mgr: Manager, opts: MiloDiscoveryOptions) {
    this.mgr = mgr;
    this.opts = opts;
  }

  async start(signal: AbortSignal): Promise<void> {
    const client = createClient(this.opts.discovery, { userAgent: `${this.mgr.name}/discovery` });
    this.cache = new Cache(client, { log: this.mgr.log });
    this.informer = this.cache.informerFor(PROJECT, { labelSelector: this.opts.labelSelector });
    const sync = (p: KubeObject, gone = false) => {
      this.chain = this.chain
        .then(() => this.reconcile(p, gone))
        .catch((err) => this.mgr.log.error('project engage failed', { err }));
    };
    this.informer.addEventHandler({
      onAdd: (p) => sync(p),
      onUpdate: (_o, p) => sync(p),
      onDelete: (p) => sync(p, true),
    });
    this.cache.start(signal);
    await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    await this.cache.stop();
    await client.close();
  }

  private async reconcile(project: KubeObject, gone: boolean): Promise<void> {
    const name = project.metadata.name!;
    const ready = !gone && projectReady(project);
    const engaged = this.mgr.getCluster(name);
    if (ready && !engaged) {
      const cfg = (this.opts.projectConfig ?? miloProjectConfig)(project, this.opts.discovery);
      await this.mgr.engage(name, cfg, projectMetadata(project));
    } else if (ready && engaged) {
      engaged.metadata = projectMetadata(project);
    } else if (!ready && this.mgr.getCluster(name)) {
      await this.mgr.disengage(name);
    }
  }
}

function projectMetadata(project: KubeObject): ClusterMetadata {
  return { labels: { ...project.metadata.labels }, annotations: { ...project.metadata.annotations } };
}
