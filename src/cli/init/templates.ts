/**
 * Source templates of a new backend, shared by \`scaffold\` (a backend inside this repository) and \`init\` /
 * \`create backend\` (a separate provider project that depends on the published package).
 */

export const BACKEND_NAME = /^[a-z][a-z0-9-]{1,30}$/;

export function checkBackendName(name: string): void {
  if (!BACKEND_NAME.test(name))
    throw new Error(
      `backend name '${name}' must be lower-case letters, digits and dashes, starting with a letter`,
    );
}

export function pascal(name: string): string {
  return name.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase());
}

export interface Imports {
  /** Module of the Backend interface. */
  datum: string;
  /** Module of runContractSuite and providerCommand. */
  testkit: string;
  /** Module of the backend, from the test. */
  backend: string;
  /** The provider executable the crash test starts, relative to the test file; undefined = the package's. */
  main?: string;
  rulesDoc: string;
}

/** A backend that compiles against the real interface, every method a TODO that fails clearly. */
export function backendSource(name: string, imp: Imports): string {
  const cls = `${pascal(name)}Backend`;
  const datumImport = imp.datum;
  const rulesDoc = imp.rulesDoc;
  return `/**
 * The ${name} backend. The rules are in ${rulesDoc}; the in-memory backend is the reference implementation.
 * Every method below must be idempotent for a given \`id\` and must tag what it creates with \`owner\` so
 * that \`listManaged\` finds it.
 */
import {
  type Backend,
  type BackendCapabilities,
  type BackendContext,
  BackendError,
  type DeleteResult,
  type InstanceDesired,
  type InstanceObserved,
  type ManagedResource,
  type NetworkDesired,
  type NetworkObserved,
  type SubnetDesired,
  type SubnetObserved,
} from '${datumImport}';

/** The backend's settings: \`backendConfig\` of the settings file (or DATUM_BACKEND_CONFIG), e.g. an endpoint. */
export type ${cls}Options = Readonly<Record<string, string>>;

export class ${cls} implements Backend {
  readonly name = '${name}';
  private readonly options: ${cls}Options;

  constructor(options: ${cls}Options = {}) {
    this.options = options;
  }

  capabilities(): BackendCapabilities {
    // TODO: what your platform offers; anything else is refused with a condition before you are called.
    return { runtimes: ['sandbox'], volumeKinds: ['configMap', 'secret'], features: [], instanceTypes: ['datumcloud/d1-standard-2'] };
  }

  async ensureNetwork(_ctx: BackendContext, desired: NetworkDesired): Promise<NetworkObserved> {
    // TODO: find the network tagged with desired.id; create it (tagged with desired.owner) if missing.
    throw new BackendError('Unsupported', \`${name}: ensureNetwork(\${desired.id}) is not implemented yet\`);
  }

  async deleteNetwork(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    // TODO: delete; return { gone: false } while the platform is still tearing down or subnets remain.
    throw new BackendError('Unsupported', \`${name}: deleteNetwork(\${id}) is not implemented yet\`);
  }

  async ensureSubnet(_ctx: BackendContext, desired: SubnetDesired): Promise<SubnetObserved> {
    throw new BackendError('Unsupported', \`${name}: ensureSubnet(\${desired.id}) is not implemented yet\`);
  }

  async deleteSubnet(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    throw new BackendError('Unsupported', \`${name}: deleteSubnet(\${id}) is not implemented yet\`);
  }

  async ensureInstance(_ctx: BackendContext, desired: InstanceDesired): Promise<InstanceObserved> {
    // TODO: look up by desired.id first (a crash may have left one behind), create with an idempotency token,
    // converge drift, and report the power state and addresses, with upToDate: false while a change is still
    // being applied. Secret content (sensitive: true) must not land in plain-text platform metadata.
    throw new BackendError('Unsupported', \`${name}: ensureInstance(\${desired.id}) is not implemented yet\`);
  }

  async deleteInstance(_ctx: BackendContext, id: string): Promise<DeleteResult> {
    throw new BackendError('Unsupported', \`${name}: deleteInstance(\${id}) is not implemented yet\`);
  }

  async listManaged(_ctx: BackendContext): Promise<ManagedResource[]> {
    // TODO: every resource carrying your ownership tags, for the orphan sweep.
    void this.options;
    return [];
  }

  async release(
    _ctx: BackendContext,
    kind: 'instance' | 'subnet' | 'network',
    id: string,
  ): Promise<{ released: string[] }> {
    // TODO: deletion policy Retain: remove your ownership marks from the resource (leave it running).
    throw new BackendError('Unsupported', \`${name}: release(\${kind}, \${id}) is not implemented yet\`);
  }

  async close(): Promise<void> {
    // TODO: close connections and sessions (called once at shutdown).
  }
}
`;
}

/**
 * The contract suite with a generic handle: everything goes through the Backend interface, so it fits any
 * backend; only \`backendConfig\` (where the platform is) is the author's to fill.
 */
export function contractTestSource(name: string, imp: Imports): string {
  const cls = `${pascal(name)}Backend`;
  const env = `${name.toUpperCase().replace(/-/g, '_')}_BACKEND_CONFIG`;
  return `/** The backend contract suite for the ${name} backend, through the Backend interface only. */
${imp.main ? "import { fileURLToPath } from 'node:url';\n" : ''}import type { Backend } from '${imp.datum}';
import { fixturesContext, interfaceHandle, providerCommand, runContractSuite } from '${imp.testkit}';
import { ${cls} } from '${imp.backend}';

// Where the platform is: an emulator this test starts, or a sandbox account (never production).
const backendConfig: Record<string, string> = JSON.parse(process.env.${env} ?? '{}');

runContractSuite({
  name: '${name}',
  async makeBackend() {
    const backend: Backend = new ${cls}(backendConfig);
    const ctx = fixturesContext({ credentials: { source: 'Secret', data: {} }, config: backendConfig });
    return {
      backend,
      // owned: what listManaged says a UID owns; plantOrphan: an instance whose owner does not exist upstream.
      ...interfaceHandle(backend, ctx),
      providerProcess(kubeconfig: string, locationClass: string, failpoint?: string) {
        return providerCommand({
          kubeconfig,
          locationClass,
          backend: '${name}',
          backendConfig,
          failpoint,${imp.main ? `\n          main: fileURLToPath(new URL('${imp.main}', import.meta.url)),` : ''}
        });
      },
      async cleanup() {
        await backend.close?.();
      },
    };
  },
});
`;
}
